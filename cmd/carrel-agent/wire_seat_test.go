package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/session"
)

type recGate struct {
	calls []string
	fail  string
}

func (g *recGate) Hold(_ context.Context, u string) error {
	g.calls = append(g.calls, "hold "+u)
	if u == g.fail {
		return errors.New("cannot hold " + u)
	}
	return nil
}

func (g *recGate) Release(_ context.Context, u string) error {
	g.calls = append(g.calls, "release "+u)
	return nil
}

// The Windows seat holds logons through the gate, every account, every failure reported.
func TestGatedControllerHoldsEveryAccount(t *testing.T) {
	g := &recGate{fail: "b"}
	var c session.Controller = gatedController{gate: g}
	err := c.HoldLogons(context.Background(), []string{"a", "b", "c"}, true)
	if err == nil || err.Error() != "cannot hold b" {
		t.Fatalf("hold: %v", err)
	}
	if err := c.HoldLogons(context.Background(), []string{"a", "b", "c"}, false); err != nil {
		t.Fatal(err)
	}
	want := []string{"hold a", "hold b", "hold c", "release a", "release b", "release c"}
	if !slices.Equal(g.calls, want) {
		t.Fatalf("calls %q, want %q", g.calls, want)
	}
}
