//go:build !windows

package hubservice

import (
	"context"
	"io"
	"log/slog"
)

// RunService is the `carrel-hub service` entry point. Outside Windows it is
// `serve`: run serves until ctx ends (SIGTERM from systemd or sysv).
func RunService(ctx context.Context, run func(context.Context) error) error {
	return run(ctx)
}

// OpenLog returns the service's logger. Outside Windows that is stderr (the
// journal under systemd); dataDir is unused.
func OpenLog(_ string, stderr io.Writer, level slog.Level) (*slog.Logger, io.Closer, error) {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), nopCloser{}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
