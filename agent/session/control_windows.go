//go:build windows

package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf16"

	"golang.org/x/sys/windows"

	"github.com/carrel-kiosk/carrel/agent/overlay"
)

// NewController returns the Windows controller. The lock, the countdown before
// end-session and, while it runs, staff messages are the session helper's
// (agent/overlay), started in the patron's session as the patron and started
// again if it dies; when the lock screen cannot be shown, the session is
// disconnected instead (WTSDisconnectSession: the console returns to the
// sign-in screen, the session stays). Messages without a running helper are
// WTSSendMessageW message boxes; WTSLogoffSession ends a session. Holding logons
// is not this controller's (HoldLogons returns ErrNotImplemented; see the
// package doc).
func NewController(log *slog.Logger) Controller {
	return newWTSController(log, overlay.Options{Log: log.With("component", "session_helper")})
}

func newWTSController(log *slog.Logger, o overlay.Options) *wtsController {
	return &wtsController{log: log, overlay: overlay.NewSupervisor(o), disconnect: func(id uint32) error {
		return wtsDisconnectSession(wtsCurrentServer, id, false)
	}}
}

type wtsController struct {
	log        *slog.Logger
	overlay    *overlay.Supervisor
	disconnect func(id uint32) error // WTSDisconnectSession; replaced in tests
}

var (
	_ Controller   = (*wtsController)(nil)
	_ helperRunner = (*wtsController)(nil)
)

func (c *wtsController) runHelpers(ctx context.Context, sink EventSink) error {
	return c.overlay.Run(ctx, sink)
}

// probeLock is the self-test's probe of the session's lock screen.
func (c *wtsController) probeLock(ctx context.Context, s Session, back time.Duration) (time.Duration, error) {
	return c.overlay.ProbeLock(ctx, s.ID, back)
}

// target names the session to the overlay; the helper runs with the
// session's user token.
func target(s Session) overlay.Target { return overlay.Target{Session: s.ID} }

func (c *wtsController) HoldLogons(ctx context.Context, accounts []string, hold bool) error {
	return ErrNotImplemented
}

func wtsID(s Session) (uint32, error) {
	id, err := strconv.ParseUint(s.ID, 10, 32)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("bad WTS session id %q", s.ID)
	}
	return uint32(id), nil
}

// LockSession shows the lock screen in the session. When it cannot be shown
// (the helper did not start, or did not report it on screen in time), the
// session is disconnected instead, so the screen is taken from the patron
// either way; signing back in to it is then what the Manager's hold on patron
// logons refuses. A helper that started late still shows the lock.
func (c *wtsController) LockSession(ctx context.Context, s Session) error {
	id, err := wtsID(s)
	if err != nil {
		return err
	}
	lockErr := c.overlay.Lock(ctx, target(s), true)
	if lockErr == nil {
		return nil
	}
	c.log.Warn("Lock screen not shown; disconnecting the session", "session", s.ID, "error", lockErr)
	if err := c.disconnect(id); err != nil {
		return errors.Join(fmt.Errorf("lock screen: %w", lockErr), fmt.Errorf("WTSDisconnectSession %d: %w", id, err))
	}
	return nil
}

// UnlockSession removes the lock screen. A session disconnected because the
// lock screen could not be shown comes back when the patron signs in again;
// the hold on logons is the Manager's.
func (c *wtsController) UnlockSession(ctx context.Context, s Session) error {
	if _, err := wtsID(s); err != nil {
		return err
	}
	if err := c.overlay.Lock(ctx, target(s), false); err != nil && !errors.Is(err, overlay.ErrNotRunning) {
		return fmt.Errorf("remove lock screen: %w", err)
	}
	return nil
}

// Countdown shows the countdown strip (on the lock screen while locked). When
// the helper cannot show it, the patron gets the same words in a message box.
func (c *wtsController) Countdown(ctx context.Context, s Session, deadline time.Time) error {
	if _, err := wtsID(s); err != nil {
		return err
	}
	err := c.overlay.Countdown(ctx, target(s), deadline)
	if err == nil || deadline.IsZero() {
		return err
	}
	c.log.Warn("Countdown not shown; sending a message", "session", s.ID, "error", err)
	secs := int(time.Until(deadline).Round(time.Second) / time.Second)
	if mErr := c.sendMessage(s, fmt.Sprintf("This session ends in %d seconds. Save your work.", max(secs, 0))); mErr != nil {
		return errors.Join(fmt.Errorf("countdown: %w", err), mErr)
	}
	return nil
}

// Ended stops the session's helper.
func (c *wtsController) Ended(s Session) { c.overlay.End(s.ID) }

func (c *wtsController) Terminate(ctx context.Context, s Session) error {
	id, err := wtsID(s)
	if err != nil {
		return err
	}
	if err := wtsLogoffSession(wtsCurrentServer, id, false); err != nil {
		return fmt.Errorf("WTSLogoffSession %d: %w", id, err)
	}
	return nil
}

// Message shows text in the session's helper while one runs there (on the lock
// screen, or in its message box), and as a WTSSendMessageW message box
// otherwise, or when the helper fails to show it.
func (c *wtsController) Message(ctx context.Context, s Session, text string) error {
	if _, err := wtsID(s); err != nil {
		return err
	}
	if _, up := c.overlay.Shown(s.ID); up {
		err := c.overlay.Message(ctx, target(s), text)
		if err == nil {
			return nil
		}
		c.log.Warn("Message not shown by the session helper; sending a message box", "session", s.ID, "error", err)
	}
	return c.sendMessage(s, text)
}

// Notice shows text in a corner of the session through its helper (started
// for it if none runs), and as a message box when the helper cannot show it.
func (c *wtsController) Notice(ctx context.Context, s Session, text string) error {
	if _, err := wtsID(s); err != nil {
		return err
	}
	err := c.overlay.Notice(ctx, target(s), text)
	if err == nil {
		return nil
	}
	c.log.Warn("Notice not shown by the session helper; sending a message box", "session", s.ID, "error", err)
	return c.sendMessage(s, text)
}

// sendMessage shows text in a message box in the session (WTSSendMessageW).
func (c *wtsController) sendMessage(s Session, text string) error {
	id, err := wtsID(s)
	if err != nil {
		return err
	}
	title := utf16.Encode([]rune("Message from library staff"))
	body := utf16.Encode([]rune(text))
	title, body = append(title, 0), append(body, 0)
	var resp uint32
	// Lengths are in bytes without the terminator; wait=false returns at once
	// (resp = IDASYNC) and the box stays until the patron closes it.
	err = wtsSendMessage(wtsCurrentServer, id, &title[0], uint32(2*(len(title)-1)), &body[0], uint32(2*(len(body)-1)),
		windows.MB_OK|windows.MB_ICONINFORMATION|windows.MB_SYSTEMMODAL, 0, &resp, false)
	if err != nil {
		return fmt.Errorf("WTSSendMessage %d: %w", id, err)
	}
	return nil
}

// NewPower returns reboot and shutdown through InitiateSystemShutdownEx, after
// enabling SeShutdownPrivilege in the service's token.
func NewPower() Power { return winPower{} }

type winPower struct{}

func (winPower) Reboot(ctx context.Context) error   { return shutdown(true) }
func (winPower) Shutdown(ctx context.Context) error { return shutdown(false) }

func shutdown(reboot bool) error {
	if err := enablePrivilege("SeShutdownPrivilege"); err != nil {
		return err
	}
	msg, _ := windows.UTF16PtrFromString("Library staff restarted this computer.")
	const reason = windows.SHTDN_REASON_MAJOR_OTHER | windows.SHTDN_REASON_FLAG_PLANNED
	// 15 s so a patron sees why; applications are closed without asking.
	if err := windows.InitiateSystemShutdownEx(nil, msg, 15, true, reboot, reason); err != nil {
		return fmt.Errorf("InitiateSystemShutdownEx: %w", err)
	}
	return nil
}

func enablePrivilege(name string) error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("open process token: %w", err)
	}
	defer tok.Close()
	var luid windows.LUID
	n, _ := windows.UTF16PtrFromString(name)
	if err := windows.LookupPrivilegeValue(nil, n, &luid); err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	tp := windows.Tokenprivileges{PrivilegeCount: 1}
	tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
	// Without the privilege this still succeeds (ERROR_NOT_ALL_ASSIGNED) and the
	// shutdown call then fails with access denied, which is reported.
	if err := windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil); err != nil {
		return fmt.Errorf("enable %s: %w", name, err)
	}
	return nil
}

// ShowPatron shows the patron's screen in the session (the helper).
func (c *wtsController) ShowPatron(ctx context.Context, s Session, lock bool, p overlay.PatronScreen) error {
	return c.overlay.Patron(ctx, target(s), lock, p)
}

// PatronInputs delivers what patrons did on the patron screen.
func (c *wtsController) PatronInputs() <-chan overlay.Input { return c.overlay.Inputs() }

// PatronIdle is the idle time the session's helper last reported.
func (c *wtsController) PatronIdle(s Session) (time.Duration, bool) {
	r, ok := c.overlay.Shown(s.ID)
	if !ok || r.Idle == 0 {
		return 0, false
	}
	return time.Duration(r.Idle) * time.Second, true
}
