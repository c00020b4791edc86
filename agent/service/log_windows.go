//go:build windows

package service

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/carrel-kiosk/carrel/internal/oslog"
)

// maxLogSize is where the log file is rotated (once, to agent.log.1) at start.
const maxLogSize = 10 << 20

// OpenLog returns the service's logger: %ProgramData%\Carrel\agent.log, because
// a Windows service has no stderr, and the Windows Event Log (Application, the
// source carrel-agent, which the MSI registers), where IT looks. The file is
// readable by SYSTEM and Administrators only (it sits next to the state
// directory).
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
	text := slog.NewTextHandler(f, nil)
	ev, err := oslog.NewEventLog(Name, slog.LevelInfo)
	if err != nil {
		log := slog.New(text)
		log.Warn("Logging to this file only: the event log source is not registered (the MSI or 'carrel-agent install' registers it)", "source", Name, "err", err)
		return log, f, nil
	}
	return slog.New(oslog.Tee(text, ev)), closers{f, ev}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// registerLogSource registers the agent's event source (as the MSI does), for
// an install by hand.
func registerLogSource() error { return oslog.InstallSource(Name) }

func removeLogSource() error { return oslog.RemoveSource(Name) }
