package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// The lock-screen probe never locks a patron out: with no session, or a
// session in use, it is not testable now; in a locked seat's session it
// passes or fails as the lock screen came back or not.
func TestProbeLockOnlyWhereLocked(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	if o, why := r.m.ProbeLock(ctx); o != protocol.SelfTestNotTestable || !strings.Contains(why, "no patron session") {
		t.Fatalf("no session: %s %q", o, why)
	}
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.waitState(protocol.SessionInUse)
	if o, why := r.m.ProbeLock(ctx); o != protocol.SelfTestNotTestable || !strings.Contains(why, "not locked") {
		t.Fatalf("in use: %s %q", o, why)
	}
	if len(r.ctl.probed) != 0 {
		t.Fatal("a patron's session in use was probed")
	}
	if _, err := r.m.Lock(ctx, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 10*time.Second, "locked", r.m.Locked)
	if o, why := r.m.ProbeLock(ctx); o != protocol.SelfTestPass || !strings.Contains(why, "session 3") {
		t.Fatalf("locked: %s %q", o, why)
	}
	r.ctl.mu.Lock()
	r.ctl.probe = errors.New("the lock screen was not back 5s after it was killed")
	r.ctl.mu.Unlock()
	if o, why := r.m.ProbeLock(ctx); o != protocol.SelfTestFail || !strings.Contains(why, "not back") {
		t.Fatalf("not back: %s %q", o, why)
	}
	r.ctl.mu.Lock()
	r.ctl.probe = overlay.ErrNoLockShown
	r.ctl.mu.Unlock()
	if o, _ := r.m.ProbeLock(ctx); o != protocol.SelfTestNotTestable {
		t.Fatalf("no lock shown: %s", o)
	}
}
