package protocol

import (
	"errors"
	"testing"
	"time"
)

func TestValidateWindowRefusesPastEnd(t *testing.T) {
	now := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	w := MaintenanceWindow{Scope: ScopeAll, Start: now.Add(-time.Hour), End: now.Add(-time.Minute)}
	if err := ValidateWindow(w, now); !errors.Is(err, ErrWindowPast) {
		t.Fatalf("past end: %v, want ErrWindowPast", err)
	}
	w.End = now.Add(time.Hour)
	if err := ValidateWindow(w, now); err != nil {
		t.Fatalf("open window refused: %v", err)
	}
}

func TestMaintenanceUntilMergesOverlaps(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 30, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return time.Date(2026, 12, 7, h, m, 0, 0, time.UTC) }
	ws := []MaintenanceWindow{
		{Scope: ScopeTerminal, Target: "t1", Start: at(6, 0), End: at(7, 0)},
		{Scope: ScopeBranch, Target: "Main", Start: at(6, 50), End: at(8, 0)}, // overlaps: merged
		{Scope: ScopeBranch, Target: "Main", Start: at(9, 0), End: at(10, 0)}, // apart: not yet
		{Scope: ScopeBranch, Target: "East", Start: at(6, 0), End: at(12, 0)}, // other branch
	}
	if got := MaintenanceUntil(ws, "t1", "Main", now); !got.Equal(at(8, 0)) {
		t.Fatalf("until %v, want 08:00", got)
	}
	if got := MaintenanceUntil(ws, "t2", "West", now); !got.IsZero() {
		t.Fatalf("uncovered PC until %v", got)
	}
}

func TestMaintenanceArgsRoundTrip(t *testing.T) {
	now := time.Now()
	d, until, err := ParseMaintenanceArgs(MaintenanceArgs(now.Add(90*time.Second), now))
	if err != nil || d != 90*time.Second || until.IsZero() {
		t.Fatalf("got %v %v %v", d, until, err)
	}
	if d, _, err := ParseMaintenanceArgs(MaintenanceArgs(now.Add(-time.Second), now)); err != nil || d != 0 {
		t.Fatalf("past end: %v %v", d, err)
	}
	if _, _, err := ParseMaintenanceArgs(map[string]string{ArgSeconds: "-1"}); err == nil {
		t.Fatal("negative seconds accepted")
	}
}

func FuzzParseMaintenanceArgs(f *testing.F) {
	f.Add("60", "2026-12-07T07:30:00Z")
	f.Add("0", "")
	f.Fuzz(func(t *testing.T, s, u string) {
		d, _, err := ParseMaintenanceArgs(map[string]string{ArgSeconds: s, ArgUntil: u})
		if err == nil && (d < 0 || d > MaxMaintenance) {
			t.Fatalf("%q accepted as %v", s, d)
		}
	})
}
