package agent

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
)

// recGate records the OS gate's calls.
type recGate struct {
	mu    sync.Mutex
	calls []string
	fail  string
}

func (g *recGate) Hold(_ context.Context, u string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "hold "+u)
	if u == g.fail {
		return errors.New("cannot hold " + u)
	}
	return nil
}

func (g *recGate) Release(_ context.Context, u string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "release "+u)
	return nil
}

func (g *recGate) take() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calls
	g.calls = nil
	return c
}

// The seat holds logons through the gate, every account, every failure reported.
func TestGatedControllerHoldsEveryAccount(t *testing.T) {
	g := &recGate{fail: "b"}
	var c session.Controller = gatedController{gate: newLogonGate(g)}
	err := c.HoldLogons(context.Background(), []string{"a", "b", "c"}, true)
	if err == nil || err.Error() != "cannot hold b" {
		t.Fatalf("hold: %v", err)
	}
	if err := c.HoldLogons(context.Background(), []string{"a", "b", "c"}, false); err != nil {
		t.Fatal(err)
	}
	want := []string{"hold a", "hold b", "hold c", "release a", "release b", "release c"}
	if got := g.take(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// The two claims on the one gate: neither undoes the other's hold, and a wipe's
// release before the seat has stated its holds (Resume at start) waits for it.
func TestLogonGateClaims(t *testing.T) {
	ctx := context.Background()
	os := &recGate{}
	g := newLogonGate(os)
	seat, wipe := gatedController{gate: g}, g.forWipe()

	// Resume at start: the wipe holds and releases before the manager runs.
	if err := wipe.Hold(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if err := wipe.Release(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if got := os.take(); !slices.Equal(got, []string{"hold p1"}) {
		t.Fatalf("before the seat stated its holds: %q, want the hold only", got)
	}
	// The seat starts locked: p1 stays held.
	if err := seat.HoldLogons(ctx, []string{"p1"}, true); err != nil {
		t.Fatal(err)
	}
	if got := os.take(); !slices.Equal(got, []string{"hold p1"}) {
		t.Fatalf("seat locked: %q", got)
	}
	// A wipe while locked: its release leaves the seat's hold.
	wipe.Hold(ctx, "p1")
	wipe.Release(ctx, "p1")
	if got := os.take(); !slices.Equal(got, []string{"hold p1"}) {
		t.Fatalf("wipe while locked: %q, want no release", got)
	}
	// Unlocked during a wipe: the wipe's hold stays until its release.
	wipe.Hold(ctx, "p1")
	seat.HoldLogons(ctx, []string{"p1"}, false)
	if got := os.take(); !slices.Equal(got, []string{"hold p1"}) {
		t.Fatalf("unlock during a wipe: %q, want no release", got)
	}
	wipe.Release(ctx, "p1")
	if got := os.take(); !slices.Equal(got, []string{"release p1"}) {
		t.Fatalf("end of the wipe: %q", got)
	}

	// A deferred release of an account the seat does not list is carried out
	// when the seat states its holds.
	g = newLogonGate(os)
	seat, wipe = gatedController{gate: g}, g.forWipe()
	wipe.Hold(ctx, "p9")
	wipe.Release(ctx, "p9")
	seat.HoldLogons(ctx, []string{"p1"}, false)
	if got := os.take(); !slices.Equal(got, []string{"hold p9", "release p1", "release p9"}) {
		t.Fatalf("deferred release: %q", got)
	}
}

// TestWipeEngineGetsTheSeatGate fails if the seat's wipe engine is built with a
// gate that does not reach the OS gate the seat holds logons with (the no-op
// gate the engine used to get).
func TestWipeEngineGetsTheSeatGate(t *testing.T) {
	dir := tempDir(t)
	cfg := config.DefaultConfig()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Session.PatronUsers = []string{"carrel-test-nobody"}
	cfg.Session.UtmpPath = filepath.Join(dir, "utmp")
	cfg.Wipe.TemplateDir = filepath.Join(dir, "template")
	cfg.Wipe.JournalDir = filepath.Join(dir, "wipe")
	cfg.Wipe.TempDirs, cfg.Wipe.PrintSpoolDirs = []string{}, []string{}
	cfg.Wipe.ProtectedDirs = []string{cfg.StateDir}
	if err := config.EnsureStateDir(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	os := &recGate{}
	st := status.New(context.Background(), status.Options{})
	s, err := newSeat(cfg, &eventrec.Recorder{}, st, os, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if s.engine == nil {
		t.Skip("no wipe engine on this OS")
	}
	claim, ok := s.engineGate.(wipeClaim)
	if !ok || claim.g != s.gate {
		t.Fatalf("the wipe engine's gate is %T, not the seat's gate", s.engineGate)
	}
	if err := s.engineGate.Hold(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	if got := os.take(); !slices.Equal(got, []string{"hold p1"}) {
		t.Fatalf("the engine's hold reached the OS gate as %q", got)
	}
	// The seat's handlers are the agent's command table.
	a := &Agent{seat: s}
	for _, act := range []protocol.Action{protocol.ActionLock, protocol.ActionUnlock, protocol.ActionWipeNow} {
		if a.handler(act) == nil {
			t.Errorf("no handler for %s with the seat on", act)
		}
	}
	if a.handler(protocol.ActionReleaseQuarantine) != nil || a.handler(protocol.ActionApplyPolicy) != nil {
		t.Error("a handler for a disabled component")
	}
}
