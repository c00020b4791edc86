//go:build !linux && !windows && !darwin

package downloads

import "log/slog"

// NewWatcher is not implemented here (2026-11): Carrel's agent ships for Linux,
// Windows and macOS only.
func NewWatcher(*slog.Logger) (Watcher, error) { return nil, ErrNotImplemented }
