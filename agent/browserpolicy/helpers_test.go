package browserpolicy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// newSink is the recorder for a Manager's events; the test fails if one of
// them would not fit the protocol.
func newSink(t *testing.T) *eventrec.Recorder {
	r := &eventrec.Recorder{}
	r.CheckContract(t)
	return r
}

// countFor counts the events of kind for path ("" for any path).
func countFor(s *eventrec.Recorder, kind protocol.EventKind, path string) int {
	n := 0
	for _, e := range s.OfKind(kind) {
		if path == "" || e.Data["path"] == path {
			n++
		}
	}
	return n
}

// waitPolicyEvent waits until an event of kind for path has been emitted, and
// checks its shape.
func waitPolicyEvent(t *testing.T, s *eventrec.Recorder, kind protocol.EventKind, browser, path string) {
	t.Helper()
	s.Wait(t, 10*time.Second, fmt.Sprintf("%s for %s", kind, path), func(e eventrec.Event) bool {
		return e.Kind == kind && e.Data["path"] == path
	})
	for _, e := range s.OfKind(kind) {
		if e.Data["path"] == path && (e.Sev != protocol.SeverityWarn || e.Data["browser"] != browser) {
			t.Errorf("event %s: severity %s browser %q, want warn %q", kind, e.Sev, e.Data["browser"], browser)
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startWatch runs m.Watch until the test ends and returns a function that
// waits for the next completed re-check (notification armed again).
func startWatch(t *testing.T, m *Manager) (rechecked func()) {
	t.Helper()
	checks := make(chan struct{}, 100)
	m.reasserted = func() { checks <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	})
	return func() {
		t.Helper()
		select {
		case <-checks:
		case <-time.After(10 * time.Second):
			t.Fatal("no re-check")
		}
	}
}
