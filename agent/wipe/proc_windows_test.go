//go:build windows

package wipe

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestTokenKillerWindows ends real processes: three helpers, each with a child
// of its own, found by their token user (the test's own SID under Wine, where
// every process runs as one user) and limited to the test's descendants, so the
// killer never touches the test, the wineserver's processes or anything else.
func TestTokenKillerWindows(t *testing.T) {
	_, rid, _ := currentUser(t)
	hs := startHelpers(t, "spawn", "", 3)
	var pids []int
	for _, h := range hs {
		pids = append(pids, h.cmd.Process.Pid, h.child)
	}
	for _, p := range pids {
		if !alive(p) {
			t.Fatalf("helper %d not running", p)
		}
	}
	k := tokenKiller{under: uint32(os.Getpid())}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := k.KillAll(ctx, rid)
	if err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	// Every helper and child must be among the ended; other descendants of
	// the test (a process an earlier test left dying, a console Wine spawned)
	// may be too: `under` keeps the killer inside the test's own tree.
	if n < len(pids) {
		t.Fatalf("KillAll ended %d processes, want at least the %d the test started", n, len(pids))
	} else if n > len(pids) {
		t.Logf("KillAll also ended %d other descendants of the test", n-len(pids))
	}
	for _, p := range pids {
		if alive(p) {
			t.Fatalf("process %d still running", p)
		}
	}
	for _, h := range hs {
		if err := h.cmd.Wait(); err == nil {
			t.Fatalf("helper %d exited cleanly; it should have been terminated", h.cmd.Process.Pid)
		}
	}
	// a second call finds nothing
	if n, err := k.KillAll(ctx, rid); n != 0 || err != nil {
		t.Fatalf("second KillAll = %d, %v", n, err)
	}
}

// TestTokenKillerNeverSelfWindows lists (never ends) every process of the test's
// own user: the test itself is never among them.
func TestTokenKillerNeverSelfWindows(t *testing.T) {
	me, _, _ := currentUser(t)
	procs, err := tokenKiller{}.procsOf(me)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(procs)
	if len(procs) == 0 {
		t.Log("no other process of this user")
	}
	for _, p := range procs {
		if int(p.pid) == os.Getpid() {
			t.Fatal("the killer lists its own process")
		}
	}
}

func TestTokenKillerRefusesBuiltinWindows(t *testing.T) {
	for _, uid := range []int{-1, 0, 500, 999} {
		if _, err := (tokenKiller{under: 1<<32 - 1}).KillAll(context.Background(), uid); err == nil {
			t.Errorf("KillAll(%d) succeeded", uid)
		}
	}
}
