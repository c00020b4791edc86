//go:build darwin

package session

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// NewController returns the macOS controller. Only Terminate is implemented
// (2026-11): `launchctl bootout gui/UID` ends the user's GUI session. Holding
// logons, locking and messages return ErrNotImplemented.
func NewController(log *slog.Logger) Controller { return darwinController{} }

type darwinController struct{}

var _ Controller = darwinController{}

func (darwinController) HoldLogons(context.Context, []string, bool) error { return ErrNotImplemented }
func (darwinController) LockSession(context.Context, Session) error       { return ErrNotImplemented }
func (darwinController) Message(context.Context, Session, string) error   { return ErrNotImplemented }

// The lock overlay and its countdown need a session helper, which macOS does
// not have yet (2026-11).
func (darwinController) UnlockSession(context.Context, Session) error { return ErrNotImplemented }
func (darwinController) Countdown(context.Context, Session, time.Time) error {
	return ErrNotImplemented
}
func (darwinController) Ended(Session) {}

func (darwinController) Terminate(ctx context.Context, s Session) error {
	if _, err := strconv.ParseUint(s.UID, 10, 32); err != nil || s.UID == "0" {
		return fmt.Errorf("bad uid %q for session %s", s.UID, s.ID)
	}
	return runTool(ctx, "/bin/launchctl", "bootout", "gui/"+s.UID)
}

// NewPower returns reboot and shutdown through /sbin/shutdown.
func NewPower() Power { return darwinPower{} }

type darwinPower struct{}

func (darwinPower) Reboot(ctx context.Context) error {
	return runTool(ctx, "/sbin/shutdown", "-r", "now")
}

func (darwinPower) Shutdown(ctx context.Context) error {
	return runTool(ctx, "/sbin/shutdown", "-h", "now")
}

func runTool(ctx context.Context, path string, args ...string) error {
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, oneLine(string(out), 200))
	}
	return nil
}
