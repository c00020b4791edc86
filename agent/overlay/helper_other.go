//go:build !linux && !windows

package overlay

import "context"

func harden() {}

func runUI(ctx context.Context, h *helperIO, first Command) error { return ErrNotImplemented }
