//go:build !linux && !windows && !darwin

package service

import "context"

// RunService is not implemented on this OS.
func RunService(context.Context, *Host) error { return ErrNotImplemented }
