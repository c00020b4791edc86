//go:build windows

package service

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// maxLogSize is where the log file is rotated (once, to agent.log.1) at start.
const maxLogSize = 10 << 20

// OpenLog returns the service's logger: %ProgramData%\Carrel\agent.log, because
// a Windows service has no stderr. The file is readable by SYSTEM and
// Administrators only (it sits next to the state directory).
func OpenLog(p Paths) (*slog.Logger, io.Closer, error) {
	dir := filepath.Dir(p.Config)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("log directory: %w", err)
	}
	path := filepath.Join(dir, "agent.log")
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		os.Remove(path + ".1")
		os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, nil)), f, nil
}
