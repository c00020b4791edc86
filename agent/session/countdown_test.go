package session

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

func TestEndSessionGraceShowsCountdownThenEnds(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.waitState(protocol.SessionInUse)
	var slept []time.Duration
	r.m.sleep = func(ctx context.Context, d time.Duration) error {
		// The countdown is on screen before the wait, and nothing ended yet.
		r.ctl.mu.Lock()
		defer r.ctl.mu.Unlock()
		if !slices.Equal(r.ctl.countdowns, []string{"3"}) || len(r.ctl.terminated) != 0 {
			t.Errorf("during the grace: countdowns %v, %d terminated", r.ctl.countdowns, len(r.ctl.terminated))
		}
		slept = append(slept, d)
		return nil
	}
	out, err := r.m.EndSession(context.Background(), map[string]string{"grace": "30"})
	if err != nil || out != "ended 1 session(s); the wipe follows" {
		t.Fatalf("end-session = %q, %v", out, err)
	}
	if !slices.Equal(slept, []time.Duration{30 * time.Second}) {
		t.Errorf("waited %v, want 30s", slept)
	}
	if id := recv(t, r.ctl.terminated, "terminate"); id != "3" {
		t.Fatalf("terminated %s", id)
	}
}

func TestEndSessionGraceWithoutOverlaySendsAMessage(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	r.ctl.noCountdown = true
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.waitState(protocol.SessionInUse)
	r.m.sleep = func(context.Context, time.Duration) error { return nil }
	if _, err := r.m.EndSession(context.Background(), map[string]string{"grace": "15", "session": "3"}); err != nil {
		t.Fatal(err)
	}
	r.ctl.mu.Lock()
	msgs := slices.Clone(r.ctl.messages)
	r.ctl.mu.Unlock()
	if !slices.Equal(msgs, []string{"3: This session ends in 15 seconds. Save your work."}) {
		t.Errorf("messages %q", msgs)
	}
	recv(t, r.ctl.terminated, "terminate")
}

func TestEndSessionGraceStoppedEndsNothing(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.waitState(protocol.SessionInUse)
	r.m.sleep = func(context.Context, time.Duration) error { return context.Canceled }
	if _, err := r.m.EndSession(context.Background(), map[string]string{"grace": "5"}); err == nil || !strings.Contains(err.Error(), "no session was ended") {
		t.Fatalf("end-session = %v", err)
	}
	if n := len(r.ctl.terminated); n != 0 {
		t.Errorf("%d sessions ended", n)
	}
}

func TestEndSessionGraceIsChecked(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.waitState(protocol.SessionInUse)
	for _, g := range []string{"-1", "91", "1e3", "", "ten", "30 "} {
		if _, err := r.m.EndSession(context.Background(), map[string]string{"grace": g}); err == nil || !strings.Contains(err.Error(), "bad arguments") {
			t.Errorf("grace %q: %v", g, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.m.EndSession(ctx, map[string]string{"grace": "60"}); err == nil || !strings.Contains(err.Error(), "time limit") {
		t.Errorf("grace longer than the command's deadline: %v", err)
	}
	if n := len(r.ctl.terminated); n != 0 {
		t.Errorf("%d sessions ended by refused commands", n)
	}
}

func TestUnlockAndLogoffReachTheController(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.waitState(protocol.SessionInUse)
	ctx := context.Background()
	if _, err := r.m.Lock(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Unlock(ctx, nil); err != nil {
		t.Fatal(err)
	}
	r.send(Event{Kind: Logoff, Session: patron("3", "patron1", t0)})
	recv(t, r.wiper.called, "wipe")
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	if !slices.Equal(r.ctl.locked, []string{"3"}) || !slices.Equal(r.ctl.unlocked, []string{"3"}) || !slices.Equal(r.ctl.ended, []string{"3"}) {
		t.Errorf("locked %v, unlocked %v, ended %v; want session 3 each", r.ctl.locked, r.ctl.unlocked, r.ctl.ended)
	}
}
