//go:build windows

package session

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf16"

	"golang.org/x/sys/windows"
)

// NewController returns the Windows controller: WTSLogoffSession ends a
// session, WTSDisconnectSession "locks" it (the patron's session stays, the
// console returns to the sign-in screen), WTSSendMessageW shows a message box
// in the session. Holding logons at the account level is not done yet
// (2026-11): HoldLogons returns ErrNotImplemented and the Manager logs off any
// patron session that starts while the seat is held.
func NewController(log *slog.Logger) Controller { return &wtsController{log: log} }

type wtsController struct {
	log *slog.Logger
}

var _ Controller = (*wtsController)(nil)

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

func (c *wtsController) LockSession(ctx context.Context, s Session) error {
	id, err := wtsID(s)
	if err != nil {
		return err
	}
	if err := wtsDisconnectSession(wtsCurrentServer, id, false); err != nil {
		return fmt.Errorf("WTSDisconnectSession %d: %w", id, err)
	}
	return nil
}

// UnlockSession has nothing to undo: a disconnected session comes back when
// the patron signs in again, and the hold on logons is the Manager's.
func (c *wtsController) UnlockSession(ctx context.Context, s Session) error { return nil }

// Countdown needs a session helper started with CreateProcessAsUser in the
// patron's session, which is future work (2026-11): the Manager sends a
// message instead.
func (c *wtsController) Countdown(ctx context.Context, s Session, deadline time.Time) error {
	return ErrNotImplemented
}

func (c *wtsController) Ended(s Session) {}

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

func (c *wtsController) Message(ctx context.Context, s Session, text string) error {
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
