//go:build linux || darwin

package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

func TestHostEnrollsFromPreseedWithRetries(t *testing.T) {
	paths := testPaths(t)
	store := fileStore{paths.Preseed}
	if err := store.Save(goodPreseed); err != nil {
		t.Fatal(err)
	}
	enr := &fakeEnroller{marker: filepath.Join(t.TempDir(), "enrolled"), err: errors.New("hub unreachable"), fails: 2}
	ran := make(chan struct{})
	h := &Host{Paths: paths, Enroller: enr, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		Run: func(ctx context.Context) error {
			close(ran)
			<-ctx.Done()
			return ctx.Err()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("agent never ran")
	}
	if n := enr.attempts(); n != 3 {
		t.Errorf("enroll attempts = %d, want 3 (two failures, one success)", n)
	}
	if p, _ := store.Load(); p.EnrollToken != "" || p.HubURL == "" {
		t.Errorf("preseed after enrollment = %+v", p)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestHostWaitsForPreseedDroppedLater(t *testing.T) {
	paths := testPaths(t)
	enr := &fakeEnroller{marker: filepath.Join(t.TempDir(), "enrolled")}
	ran := make(chan struct{})
	h := &Host{Paths: paths, Enroller: enr, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
		Run: func(ctx context.Context) error { close(ran); <-ctx.Done(); return nil }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	// No preseed: no attempt, no run.
	testbin.WaitFor(t, 10*time.Second, "the state directory", func() bool { _, err := os.Stat(paths.StateDir); return err == nil })
	select {
	case <-ran:
		t.Fatal("agent ran without enrollment")
	default:
	}
	if err := (fileStore{paths.Preseed}).Save(goodPreseed); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("preseed dropped later was not used")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestHostAgentFailureIsAnError(t *testing.T) {
	h := &Host{Paths: testPaths(t), Run: func(context.Context) error { return errors.New("boom") }}
	if err := h.Serve(context.Background()); err == nil || err.Error() != "agent: boom" {
		t.Fatalf("Serve = %v, want agent: boom", err)
	}
	h.Run = func(context.Context) error { return nil }
	if err := h.Serve(context.Background()); err == nil {
		t.Fatal("an agent returning nil without being stopped must be a failure (the service manager restarts it)")
	}
	h.Run = nil
	if err := h.Serve(context.Background()); !errors.Is(err, ErrNoRun) {
		t.Fatalf("Serve = %v", err)
	}
}

func TestSessionChangesNeverBlock(t *testing.T) {
	before := DroppedSessionChanges()
	for i := 0; i < cap(sessionChanges)+5; i++ {
		publishSessionChange(SessionChange{Event: SessionLogon, SessionID: uint32(i)})
	}
	if got := DroppedSessionChanges() - before; got < 5 {
		t.Errorf("dropped = %d, want at least 5", got)
	}
	c := <-SessionChanges()
	if c.Event != SessionLogon {
		t.Errorf("got %+v", c)
	}
	for len(sessionChanges) > 0 {
		<-sessionChanges
	}
}
