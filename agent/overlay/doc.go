// Package overlay is the part of the session lock a patron sees: a session
// helper that runs inside the patron's graphical session and draws the lock
// screen, the countdown before a session ends, and staff messages, plus the
// Supervisor the service uses to start that helper, feed it, and start it again
// when it dies.
//
// The helper is `carrel-agent session-helper`. The service starts it as the
// patron's uid with only DISPLAY and XAUTHORITY in its environment, writes the
// whole state to show as one JSON line per change on its stdin (Command), and
// reads JSON lines back from its stdout (Report: ready, alive, dismissed). The
// helper exits when its stdin closes (nothing left to show, or the service is
// gone). The helper's input and output are both treated as coming from outside:
// lines are bounded and decoded strictly, and text is only ever drawn as text.
//
// It is not the lock itself: the service holds logons (agent/session) and keeps
// the lock state; the overlay only makes the lock visible and takes the keyboard
// and pointer away from the patron's programs while the seat is locked.
//
// Limitations (2026-11):
//   - Linux X11 only. A Wayland session offers no way for another client to cover
//     the screen or grab input; Windows (a helper started with
//     CreateProcessAsUser in the patron's session) and macOS are future work:
//     there the Supervisor's Run returns ErrNotImplemented.
//   - The helper runs as the patron, so the patron can kill it (the service
//     starts it again within 2 seconds and reports session.helper_restarted) or
//     stop it (the service sees its heartbeat stop, kills it and starts it
//     again). It makes itself non-dumpable at start, so the patron cannot attach
//     to it or open its pipes, except in the instant between exec and that call.
//   - Any X client can unmap, restack or destroy another client's window, and
//     can hold a grab of its own: the helper maps itself again, raises itself
//     again on every VisibilityNotify and twice a second, and retries its grabs,
//     but a client that keeps a grab keeps the keyboard until the helper gets it.
//     Xorg's own VT switch keys are handled by the server, below any grab.
//   - Multi-monitor layouts inside one X screen are covered as one root; the
//     message box is centred on the root, not on the primary monitor.
//   - Text is drawn with the server's core fonts ("fixed" and friends); with a
//     font that has no glyph for a character, "?" is drawn instead.
package overlay
