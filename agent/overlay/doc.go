// Package overlay is the part of the session lock a patron sees: a session
// helper that runs inside the patron's graphical session and draws the lock
// screen, the countdown before a session ends, staff messages, and the
// patron's notices (a download not kept, a program refused: a small window in
// the bottom right corner for NoticeShowFor or until clicked, which takes
// neither the keyboard nor the focus), plus the
// Supervisor the service uses to start that helper, feed it, and start it again
// when it dies.
//
// The helper is `carrel-agent session-helper`. The service starts it as the
// patron (Linux: the patron's uid with only DISPLAY and XAUTHORITY in its
// environment; Windows: the session's user token and that user's environment,
// on the session's interactive desktop), writes the whole state to show as one
// JSON line per change on its stdin (Command), and reads JSON lines back from
// its stdout (Report: ready, alive, dismissed). The helper exits when its stdin
// closes (nothing left to show, or the service is gone). The protocol, the
// Supervisor and the texts are the same on both; only the drawing and the
// launch differ. The helper's input and output are both treated as coming from
// outside: lines are bounded and decoded strictly, and text is only ever drawn
// as text.
//
// Where patrons sign in (agent/session's Config.PatronSignIn) the helper also
// shows the patron's own screen (Command.Patron): on the lock, the sign-in
// form (library card number, a masked PIN, or a guest pass code; keyboard
// only: Tab and Shift+Tab move, Backspace deletes, Escape empties, Enter
// signs in), the refusal in protocol.RefusalText's words, a privacy notice
// and "The previous session was erased and checked at 14:02" when the service
// says a verified clean wipe happened; while signed in, a strip along the top
// with the time left and an "End my session" button that asks for a
// confirmation; time warnings in the message box, closed by Enter or a click.
// What the patron types goes back once, as a ReportSignIn with Secret fields
// (never printed; zeroed by the helper after writing and by the service after
// use); the helper's own copy of the PIN is zeroed on submit and at exit.
// Alive reports carry the seconds since the patron's last input (X11: the
// MIT-SCREEN-SAVER extension; Windows: GetLastInputInfo), for the grant's
// idle end. The helper decides nothing: the service owns the grant, its clock
// and the end; a killed helper is started again with the same screen.
//
// It is not the lock itself: the service holds logons (agent/session) and keeps
// the lock state; the overlay only makes the lock visible and takes the keyboard
// and pointer away from the patron's programs while the seat is locked.
//
// On Windows the helper is three Win32 windows on one thread with a message
// loop (a goroutine hands it stdin's commands): the lock, a topmost tool popup
// over the whole virtual screen (every monitor), which takes every key through a
// low-level keyboard hook while it shows, puts itself back when another program
// hides, moves or lowers it (WM_WINDOWPOSCHANGING, and a check four times a
// second), and ignores WM_CLOSE and a foreign WM_QUIT; the countdown, a strip
// along the top of the primary monitor that takes no input (disabled, layered,
// click-through, never activated); and the message box, centred on the primary
// monitor, dismissed by a click or Enter, Escape or Space; and the patron's
// notice, a topmost tool window at the bottom right that is never activated
// (WS_EX_NOACTIVATE), titled "Carrel notice", closed by a click. Text is drawn with
// GDI DrawTextW with DT_NOPREFIX: plain text, never interpreted. The launcher
// (HelperCommand) takes the session's token with WTSQueryUserToken (the service
// runs as SYSTEM), duplicates it, gives the helper the user's environment
// (CreateEnvironmentBlock) and starts it with CreateProcessAsUser on
// winsta0\default, without a console, inheriting only its three pipes, with a
// process DACL that leaves the patron only SYNCHRONIZE and
// PROCESS_QUERY_LIMITED_INFORMATION (OWNER RIGHTS): the patron cannot kill the
// helper, suspend its process, read its memory or copy its pipe handles.
//
// Limitations (2026-11):
//   - Linux X11 and Windows. A Wayland session offers no way for another client
//     to cover the screen or grab input; macOS is future work: there the
//     Supervisor's Run returns ErrNotImplemented.
//   - Windows, what ran where: the helper's windows, the keyboard hook, the
//     dismissal and the exit on closed stdin run under Wine (wine 8.0, on Xvfb)
//     in the tests, started both with os/exec and through the real launcher
//     (WTSQueryUserToken, CreateProcessAsUser, the Supervisor's restart within
//     2 s). Wine has one session and its WTSQueryUserToken returns the caller's
//     own token, so that another user's helper lands on that user's desktop in
//     another session is compiled, not run; so is the OWNER RIGHTS half of the
//     DACL (Wine has no OWNER RIGHTS; it does refuse the patron's kill). The
//     secure desktop (Ctrl+Alt+Del, UAC prompts) is the system's: the lock
//     cannot cover it, and Task Manager started from there with "Always on
//     top" competes with the lock until the next raise. Windows may remove a
//     low-level hook that answers too slowly; the lock then still covers the
//     screen but keys reach the program behind it.
//   - The helper runs as the patron, so on Linux the patron can kill it (the
//     service starts it again within 2 seconds and reports
//     session.helper_restarted) or stop it (the service sees its heartbeat stop,
//     kills it and starts it again). It makes itself non-dumpable at start, so
//     the patron cannot attach to it or open its pipes, except in the instant
//     between exec and that call. On Windows the process DACL keeps the patron
//     from killing it; its threads carry the user's default DACL, so a patron
//     with a debugger-like tool can still suspend them (the heartbeat stops,
//     and the service replaces the helper).
//   - Any X client can unmap, restack or destroy another client's window, and
//     can hold a grab of its own: the helper maps itself again, raises itself
//     again on every VisibilityNotify and twice a second, and retries its grabs,
//     but a client that keeps a grab keeps the keyboard until the helper gets it.
//     Xorg's own VT switch keys are handled by the server, below any grab.
//   - Multi-monitor layouts inside one X screen are covered as one root; the
//     message box is centred on the root, not on the primary monitor.
//   - Text is drawn with the server's core fonts ("fixed" and friends); with a
//     font that has no glyph for a character, "?" is drawn instead.
//   - The patron screen on X11 (2026-12): large type is the core font drawn
//     off screen and painted k times larger (k from a target size and the
//     screen's DPI: 192 DPI doubles it, tested on Xvfb), so it is blocky, not
//     smooth; a pixmap format other than 8, 16 or 32 bits per pixel in
//     LSB-first order falls back to the font's own size. Keys are read through
//     the core keymap with Shift and Caps Lock: printable ASCII only, no input
//     method or dead keys (card numbers and guest codes need neither).
//   - The patron screen on Windows (2026-12): characters come from the
//     virtual-key codes (digits, letters, the keypad, "-" and "."), not from
//     the keyboard layout, so other characters cannot be typed into the form.
//     Under Wine (wine 8.0, on Xvfb) the form typed with SendInput, the
//     strip's End my session with its confirmation and a warning closed by a
//     click ran; the form at 200 % (GDI fonts sized by LOGPIXELSY) is compiled,
//     not run at 192 DPI.
//   - The PIN's bytes are zeroed where this package holds them; the copies Go
//     makes on the way (the pipe's read buffer, the string in
//     protocol.SignIn, the websocket frame) are left to the garbage collector.
package overlay
