//go:build linux || darwin

package service

import (
	"context"
	"os/signal"
	"syscall"
)

// RunService is the `carrel-agent service` entry point: it serves h until
// SIGTERM or SIGINT (systemd, launchd and sysv stop a service with SIGTERM).
// A non-nil error means the service should exit non-zero so it is restarted.
func RunService(ctx context.Context, h *Host) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return h.Serve(ctx)
}
