//go:build !windows

package service

import (
	"io"
	"log/slog"
	"os"
)

// OpenLog returns the service's logger: stderr, which systemd sends to the
// journal and launchd to the unified log.
func OpenLog(Paths) (*slog.Logger, io.Closer, error) {
	return slog.New(slog.NewTextHandler(os.Stderr, nil)), io.NopCloser(nil), nil
}
