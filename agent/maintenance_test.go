package agent

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The window ends on the monotonic clock after the seconds the hub sent,
// whatever the wall-clock "until" says (a clock change cannot lengthen it).
func TestMaintenanceEndsOnMonotonicClock(t *testing.T) {
	var mu sync.Mutex
	var got []bool
	m := &maintenance{status: status.New(context.Background(), status.Options{}), log: slog.New(slog.DiscardHandler),
		pausers: []func(bool){func(p bool) { mu.Lock(); got = append(got, p); mu.Unlock() }}}
	// A wall-clock end a day away, but one second left by the hub's reckoning.
	args := map[string]string{protocol.ArgSeconds: "1", protocol.ArgUntil: time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}
	if _, err := m.handler()(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guards not re-armed within 5 s of a 1 s window: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !got[0] || got[1] {
		t.Fatalf("pause calls %v, want [true false]", got)
	}
	if _, err := m.handler()(context.Background(), map[string]string{protocol.ArgSeconds: "x"}); err == nil {
		t.Fatal("bad seconds accepted")
	}
}
