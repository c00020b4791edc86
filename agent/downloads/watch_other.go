//go:build !linux && !windows

package downloads

import "log/slog"

// NewWatcher is not implemented here (2026-11: macOS FSEvents/kqueue is
// planned); the exec guard's process watcher is the only layer on macOS.
func NewWatcher(*slog.Logger) (Watcher, error) { return nil, ErrNotImplemented }
