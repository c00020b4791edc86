//go:build darwin

package session

import (
	"context"
	"log/slog"
	"time"
)

// NewWatcher returns the macOS watcher: the owner of /dev/console, polled every
// cfg.PollInterval. root owns it at the login window, which counts as nobody.
// The session id is "console"; fast user switching shows as a logoff of one
// user and a logon of the other.
func NewWatcher(cfg Config, log *slog.Logger) Watcher {
	return newPollWatcher(log, time.Duration(cfg.PollInterval), func(context.Context) ([]Session, error) {
		return consoleSession("/dev/console")
	})
}
