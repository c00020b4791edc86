package overlay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
)

// ProbeLock: a shown lock is killed and must come back; no lock, or a lock
// that does not grab, is said so.
func TestProbeLock(t *testing.T) {
	start, pids := fakeStarter(t, "")
	s := NewSupervisor(Options{Log: testLogger(t), Start: start})
	runSupervisor(t, s, &eventrec.Recorder{})
	ctx := context.Background()
	tg := fakeTarget()
	if _, err := s.ProbeLock(ctx, "4", 5*time.Second); !errors.Is(err, ErrNoLockShown) {
		t.Fatalf("no lock: %v", err)
	}
	if err := s.Lock(ctx, tg, true); err != nil {
		t.Fatal(err)
	}
	pid := s.helperPID("4")
	took, err := s.ProbeLock(ctx, "4", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.helperPID("4"); p == pid || p == 0 || len(readPids(t, pids)) != 2 {
		t.Fatalf("helper %d after the probe (was %d): not a new one", p, pid)
	}
	t.Logf("the lock came back in %s", took)

	// A lock that shows but does not hold the keyboard is no proof.
	start, _ = fakeStarter(t, "nograb")
	s2 := NewSupervisor(Options{Log: testLogger(t), Start: start})
	runSupervisor(t, s2, &eventrec.Recorder{})
	if err := s2.Lock(ctx, tg, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.ProbeLock(ctx, "4", 5*time.Second); err == nil || !strings.Contains(err.Error(), "grabbed false") {
		t.Fatalf("lock without grab: %v", err)
	}
}
