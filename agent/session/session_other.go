//go:build !linux && !windows && !darwin

package session

import (
	"context"
	"log/slog"
	"time"
)

// NewWatcher returns a watcher whose Run fails with ErrNotImplemented.
func NewWatcher(cfg Config, log *slog.Logger) Watcher { return otherWatcher{} }

type otherWatcher struct{}

var _ Watcher = otherWatcher{}

func (otherWatcher) Run(context.Context, func(Event)) error { return ErrNotImplemented }

// NewController returns a controller that does nothing but say so.
func NewController(log *slog.Logger) Controller { return otherController{} }

type otherController struct{}

var _ Controller = otherController{}

func (otherController) HoldLogons(context.Context, []string, bool) error { return ErrNotImplemented }
func (otherController) LockSession(context.Context, Session) error       { return ErrNotImplemented }
func (otherController) Terminate(context.Context, Session) error         { return ErrNotImplemented }
func (otherController) Message(context.Context, Session, string) error   { return ErrNotImplemented }
func (otherController) UnlockSession(context.Context, Session) error     { return ErrNotImplemented }
func (otherController) Countdown(context.Context, Session, time.Time) error {
	return ErrNotImplemented
}
func (otherController) Ended(Session) {}

// NewPower returns a Power that does nothing but say so.
func NewPower() Power { return otherPower{} }

type otherPower struct{}

func (otherPower) Reboot(context.Context) error   { return ErrNotImplemented }
func (otherPower) Shutdown(context.Context) error { return ErrNotImplemented }
