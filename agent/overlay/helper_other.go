//go:build !linux

package overlay

import "context"

func harden() {}

func runUI(ctx context.Context, h *helperIO, first Command) error { return ErrNotImplemented }
