//go:build darwin

package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// NewController returns the macOS controller (2026-11: compiled and its command
// lines tested on Linux, never run on a Mac): holding logons disables the patron
// accounts with pwpolicy, Terminate ends the GUI session with `launchctl bootout
// gui/UID`, a message is an osascript dialog in the patron's session. Locking an
// open session and the countdown need a session helper macOS does not have yet
// and return ErrNotImplemented.
func NewController(log *slog.Logger) Controller { return darwinController{} }

type darwinController struct{}

var _ Controller = darwinController{}

func (darwinController) LockSession(context.Context, Session) error { return ErrNotImplemented }

func (darwinController) HoldLogons(ctx context.Context, accounts []string, hold bool) error {
	var errs []error
	for _, a := range accounts {
		args, err := macHoldArgs(a, hold)
		if err == nil {
			err = runTool(ctx, args[0], args[1:]...)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Notice is a message dialog on macOS (no helper there yet).
func (c darwinController) Notice(ctx context.Context, s Session, text string) error {
	return c.Message(ctx, s, text)
}

func (darwinController) Message(ctx context.Context, s Session, text string) error {
	args, err := macMessageArgs(s.UID, text)
	if err != nil {
		return fmt.Errorf("session %s: %w", s.ID, err)
	}
	// The dialog stays up until OK or five minutes; the command does not wait.
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("show message: %w", err)
	}
	go cmd.Wait()
	return nil
}

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
