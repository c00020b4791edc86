// Package session watches patron logons and logoffs on this PC, keeps the seat's
// state (free, in use, locked, wiping, dirty), owns the lock, and carries out the
// session commands staff send: lock, unlock, message, end-session, wipe-now,
// reboot and shutdown.
//
// The pieces:
//   - a Watcher per OS reports every interactive logon and logoff (Linux: logind
//     D-Bus signals, or utmp when there is no system bus; Windows: the service's
//     session-change notifications plus a WTS poll; macOS: the owner of
//     /dev/console, polled);
//   - a Policy says which accounts are patrons; staff and administrator accounts
//     are never wiped and never change the seat state;
//   - a Manager turns patron logons and logoffs into the seat state, runs the
//     wipe (through the Wiper it is given) when a patron's last session ends,
//     holds new patron logons while the seat is locked, wiping or dirty, and
//     reports session.* events to an EventSink;
//   - a Controller per OS does the OS side: holding logons, locking screens,
//     ending sessions, showing messages; a Power does reboot and shutdown.
//
// It is not the wipe itself (agent/wipe), nor the lock overlay drawn in the
// patron's session (agent/overlay: the Linux and Windows controllers own its
// supervisor, and the Manager runs it), nor the link to the hub. It never reports a
// patron's name to the hub: events carry session ids only.
//
// end-session takes an optional grace (seconds, up to 90): the patron sees a
// countdown (the overlay on X11 and Windows; elsewhere a message) and the
// session ends when it runs out.
//
// Notify tells every open patron session what the agent refused on the
// patron's behalf (the patron's notice, protocol.PatronNotice): a corner note
// from the session helper on X11 and Windows (a message box there when the
// helper cannot show it), a desktop notification on Wayland, a dialog on
// macOS; a text session is not told (2026-12).
//
// ProbeLock is the self-test's lock-screen check: in a locked seat's patron
// sessions the lock screen must cover the session and come back after it is
// killed; it never locks a patron in use out to test.
//
// Where patrons sign in (Config.PatronSignIn), a patron session (the display
// manager's automatic logon of the patron account: a real OS session, wiped at
// its end like any other) opens under the session helper's sign-in form. The
// patron's card and PIN, or guest code, go to the hub through Hub (the link)
// and never anywhere else: no log, no event, no file. A refusal is shown in
// its words; no answer within SignInTimeout (or no link) refuses with
// RefuseHubDown, or opens an offline session of Config.OfflineMinutes. A
// Grant is accepted only with the hub's signature (the grant key from Welcome,
// kept in the state directory); the seat is then in use, and the session runs
// for Grant.Seconds counted on the monotonic clock from the grant's arrival
// (a wall-clock change moves the strip's end, never the session's end).
// Warnings at Grant.Warnings minutes are shown and acknowledged
// (session.warned) and never end the session; Grant.IdleEnd seconds without
// input end it, after an IdleWarn warning; "End my session" ends it; the hub's
// GrantUpdate replaces the grant. The end is a logoff and the verified wipe;
// session.started and session.ended carry the grant, the pseudonym, the kind,
// the end's reason and the seconds used; Status.Patron says the grant and its
// end while it runs. The used time is saved every 5 s: an agent restarted
// during the session resumes it with one checkpoint more than was saved (never
// more than the grant); a saved grant whose session is gone (the PC
// restarted) is reported ended with EndRestart, and one whose signature no
// longer checks ends its session. A patron session the helper cannot draw in
// (Wayland, text) is ended at once where patrons sign in.
//
// Limitations (2026-11):
//   - Linux: "locked" means patron accounts are expired (usermod --expiredate 1,
//     refused by PAM's account stage for every login service) and open patron
//     sessions are locked; a patron session that still starts while the seat is
//     held is terminated at once. Carrel owns the expiry date of patron
//     accounts: unlocking clears it.
//   - Linux X11 sessions (logind Type x11 with a Display) get the lock overlay,
//     the countdown and messages from the session helper (agent/overlay), run
//     as the patron and restarted within 2 s if killed (session.helper_restarted).
//     Wayland sessions get no overlay: Wayland lets no client cover the screen
//     or grab input; they are asked to lock with loginctl lock-session (which
//     does nothing when no screen locker runs) and get messages through
//     notify-send. Text sessions get loginctl lock-session and messages on
//     their terminal; a session seen only through utmp cannot be locked.
//   - Linux: logind reports a logoff when the session is removed, but with
//     KillUserProcesses=no (Debian's default) a session whose user left a
//     process behind stays "closing" and is never removed. The watcher reads the
//     State of the sessions it knows every 0.5 s and counts "closing" as logged
//     off, so the wipe (which ends every process of the patron) starts at most
//     0.5 s after such a logout; internal/testrig/e2e's TestWipeAtLogoutInNspawn runs
//     with the default.
//   - Linux without a system bus (utmp fallback): sessions cannot be ended or
//     locked from here; lock then holds logons only. utmp is trusted only as far
//     as its writers are: a session whose leader died without a DEAD_PROCESS
//     record counts as ended, but a process stuck before exec (seen when logind
//     ends a session while pam_systemd still waits for the user manager) keeps
//     its record open.
//   - Ending a session that is still in PAM setup (the backstop on a held seat
//     can do that) removes the logind session but can leave the unit's root-owned
//     pre-exec process behind; it never runs patron code.
//   - Windows: this controller cannot hold logons itself; the agent gives the
//     Manager one that disables the patron accounts (agent/wipe's
//     NewPatronGate, wired in cmd/carrel-agent; NetUserSetInfo is compiled, not
//     run under Wine), and a patron session that still starts while the seat
//     is held is logged off (WTSLogoffSession). Locking an open patron session
//     shows the session helper's lock screen (agent/overlay: started in the
//     session with the session's token, WTSQueryUserToken and
//     CreateProcessAsUser on winsta0\default, and started again within 2 s if
//     it dies); when the helper cannot show it, the session is disconnected
//     instead (WTSDisconnectSession: the console goes back to the sign-in
//     screen, the session stays). Unlocking removes the lock screen; a
//     disconnected session comes back when the patron signs in again.
//     end-session's grace is the helper's countdown strip (a message box if the
//     helper cannot show it). Staff messages go to the helper while one runs in
//     the session, and are WTSSendMessageW message boxes otherwise. Under Wine
//     (2026-11, wine 8.0, on Xvfb) the lock, the countdown and a message go
//     through the real launcher and helper in Wine's one session, whose user
//     is the test's own (the patron's notice window ran under Wine 2026-12,
//     started directly, not yet through the launcher); a patron's session on
//     real Windows is compiled, not run. Wine's WTSEnumerateSessions returns no sessions, so listing, logoff,
//     disconnect and message boxes are only link-tested there.
//   - Patron sign-in (2026-12) needs the session helper: X11 and Windows
//     sessions. Elsewhere (Wayland, text sessions, macOS) a patron session is
//     ended as soon as it opens where patrons sign in. A staff message sent
//     while the sign-in form shows is not drawn on the X11 form. The offline
//     session's start and end reach the hub with the outbox when the link
//     returns; the card of an offline session is never checked.
//   - macOS: only the console user is seen (no SSH sessions), by polling.
//     Holding logons (pwpolicy -disableuser), ending the session (launchctl
//     bootout) and messages (an osascript dialog, the text passed as an
//     argument) are compiled and their command lines tested on Linux, never run
//     on a Mac; locking an open session, the overlay and the countdown return
//     ErrNotImplemented: on a Mac a lock holds new logons, and an open patron
//     session stays on screen until it ends (staff can end-session it).
package session
