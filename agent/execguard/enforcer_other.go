//go:build !linux && !windows

package execguard

import "log/slog"

// NewEnforcer is not implemented here (2026-11: macOS has no before-exec
// enforcement yet; an Endpoint Security client is planned).
func NewEnforcer(EventSink, *slog.Logger) (Enforcer, error) { return nil, ErrNotImplemented }
