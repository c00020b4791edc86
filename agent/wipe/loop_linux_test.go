//go:build linux

package wipe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestPurgeLoopPurgesReadyWipesAndStops(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	e := s.engine(t, s.config())
	// a ready wipe whose trash is still there, as after a restart
	rep, err := e.Wipe(context.Background(), Scope{User: patronName})
	if err != nil || !rep.Ready {
		t.Fatalf("%+v %v", rep, err)
	}
	e2 := s.engine(t, s.config()) // a new agent process: finds it in the journal dir
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e2.PurgeLoop(ctx) }()
	testbin.WaitFor(t, 10*time.Second, "the purge of the earlier wipe", func() bool { return len(s.journals(t)) == 0 })
	// and a wipe made while the loop runs is purged too
	s.fillHome(t, s.home)
	rep2, err := e2.Wipe(context.Background(), Scope{User: patronName})
	if err != nil || !rep2.Ready {
		t.Fatalf("%+v %v", rep2, err)
	}
	testbin.WaitFor(t, 10*time.Second, "the purge of the new wipe", func() bool {
		return len(s.journals(t)) == 0 && len(s.trashEntries(t)) == 0
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("PurgeLoop returned %v on cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PurgeLoop did not stop")
	}
	s.assertHomeIsTemplate(t)
}

func TestResumeRefusesCorruptJournal(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	bad := filepath.Join(s.journal, "20261123T190000Z-deadbeef"+journalExt)
	if err := os.WriteFile(bad, []byte(jl(stepHeld)+`{"step":"rm -rf /"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.homes)
	e := s.engine(t, s.config())
	if err := e.Resume(context.Background()); !errors.Is(err, errJournal) {
		t.Fatalf("Resume = %v, want a journal error", err)
	}
	if !s.sink.Has(protocol.EventWipeDirty) {
		t.Fatal("no wipe.dirty for a corrupt journal")
	}
	sameSnapshot(t, "homes", before, snapshot(t, s.homes))
	// a wipe of the patron is refused to continue blindly while it is there
	if _, err := e.Wipe(context.Background(), Scope{User: patronName}); err == nil {
		t.Fatal("Wipe ran past a corrupt journal")
	}
}

// A patron process that keeps forking is ended with all its children.
func TestKillerEndsForkingTree(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	os.Chmod(filepath.Dir(dir), 0o755)
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(patronUID+1), "--regid="+strconv.Itoa(patronGID), "--clear-groups",
		"sh", "-c", `i=0; while :; do i=$((i+1)); (sleep 1000; :) & echo $i > "$1/n"; done`, "sh", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	k := procKiller{proc: "/proc"}
	t.Cleanup(func() { // never leave the test's processes behind, even on failure
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		k.KillAll(ctx, patronUID+1)
	})
	testbin.WaitFor(t, 10*time.Second, "the fork loop", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "n"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n > 20
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	n, err := k.KillAll(ctx, patronUID+1)
	t.Logf("KillAll: %d processes in %v", n, time.Since(t0))
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("killed %d processes, want the whole tree", n)
	}
	if left, _ := k.pidsOf(patronUID + 1); len(left) != 0 {
		t.Fatalf("left running: %v", left)
	}
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("forking shell not reaped")
	}
	if _, err := k.KillAll(ctx, 0); err == nil {
		t.Fatal("KillAll(0) accepted")
	}
}
