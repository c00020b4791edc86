//go:build !windows

package service

import (
	"io"
	"log/slog"
	"os"

	"github.com/carrel-kiosk/carrel/internal/oslog"
)

// OpenLog returns the service's logger. Under systemd it writes to the journal
// in its native protocol, so each record keeps its priority (journalctl -p
// warning shows the warnings and errors) and its fields (CARREL_EVENT_ID and
// the attributes); elsewhere, text on stderr, which launchd sends to the
// unified log.
func OpenLog(Paths) (*slog.Logger, io.Closer, error) {
	if oslog.UnderJournal() {
		if j, err := oslog.NewJournal("", Name, slog.LevelInfo); err == nil {
			return slog.New(j), j, nil
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil)), io.NopCloser(nil), nil
}

// The journal needs no registration.
func registerLogSource() error { return nil }

func removeLogSource() error { return nil }
