//go:build linux

package overlay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// The self-test's lock probe against the real lock screen on Xvfb: the lock
// is drawn over the whole screen with the grabs, the probe kills it, and a
// new lock screen is on top again (seen on the X server, not only in its
// report) before the probe returns.
func TestProbeLockUnderXvfb(t *testing.T) {
	x := startXvfb(t)
	s, sink := realSupervisor(t, "")
	tg := self(x)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.ProbeLock(ctx, tg.Session, 5*time.Second); !errors.Is(err, ErrNoLockShown) {
		t.Fatalf("before the lock: %v", err)
	}
	if err := s.Lock(ctx, tg, true); err != nil {
		t.Fatal(err)
	}
	x.waitLockShown(0, 5*time.Second)
	testbin.WaitFor(t, 10*time.Second, "grab reported", func() bool { r, ok := s.Shown(tg.Session); return ok && r.Lock && r.Grabbed })
	pid := s.helperPID(tg.Session)
	took, err := s.ProbeLock(ctx, tg.Session, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p := s.helperPID(tg.Session); p == pid || p == 0 {
		t.Fatalf("helper %d after the probe, was %d", p, pid)
	}
	// The new helper's lock screen is on top (X may give its window the
	// old one's id: the server reuses a gone client's id range).
	x.waitLockShown(0, time.Second)
	if !x.keyboardGrabbed() {
		t.Error("the keyboard is not grabbed after the probe")
	}
	if sink.Count(protocol.EventHelperRestarted) != 1 {
		t.Errorf("events: %s", sink)
	}
	t.Logf("the real lock screen was back %s after it was killed", took.Round(time.Millisecond))
}
