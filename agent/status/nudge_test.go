package status

import (
	"context"
	"testing"
)

// Every setter nudges, coalesced: two changes with nobody reading leave one
// nudge, and a read empties it.
func TestSettersNudge(t *testing.T) {
	c := New(context.Background(), Options{})
	select {
	case <-c.Nudged():
		t.Fatal("nudged before any change")
	default:
	}
	c.SetLocked(true)
	c.SetLastWipe("clean 12ms")
	select {
	case <-c.Nudged():
	default:
		t.Fatal("no nudge after SetLocked")
	}
	select {
	case <-c.Nudged():
		t.Fatal("two nudges queued; want them coalesced")
	default:
	}
	if s := c.Collect(context.Background()); !s.Locked || s.LastWipe != "clean 12ms" {
		t.Fatalf("status %+v", s)
	}
}
