package browserpolicy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// fakeSink records events and signals each one.
type fakeSink struct {
	mu     sync.Mutex
	events []event
	notify chan struct{}
}

type event struct {
	kind protocol.EventKind
	sev  protocol.Severity
	data map[string]string
}

func newFakeSink() *fakeSink { return &fakeSink{notify: make(chan struct{}, 1)} }

func (s *fakeSink) Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error {
	s.mu.Lock()
	s.events = append(s.events, event{kind, sev, data})
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (s *fakeSink) all() []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

func (s *fakeSink) count(kind protocol.EventKind, path string) int {
	n := 0
	for _, e := range s.all() {
		if e.kind == kind && (path == "" || e.data["path"] == path) {
			n++
		}
	}
	return n
}

// waitEvent waits until an event of kind for path has been emitted, and
// checks its shape.
func (s *fakeSink) waitEvent(t *testing.T, kind protocol.EventKind, browser, path string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("event %s for %s", kind, path), func() bool {
		return s.count(kind, path) > 0
	})
	for _, e := range s.all() {
		if e.kind == kind && e.data["path"] == path {
			if e.sev != protocol.SeverityWarn || e.data["browser"] != browser {
				t.Errorf("event %s: severity %s browser %q, want warn %q", kind, e.sev, e.data["browser"], browser)
			}
			ev := protocol.Event{Seq: 1, Time: time.Now(), Kind: e.kind, Severity: e.sev, Data: e.data}
			if err := ev.Validate(); err != nil {
				t.Errorf("event %s does not fit the protocol: %v", kind, err)
			}
		}
	}
}

// waitFor polls cond until it holds or a deadline passes. It waits on a
// condition, not a guessed duration: the poll step only bounds the latency.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
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
