package backoff

import (
	"testing"
	"time"
)

func TestFullJitterWithinBounds(t *testing.T) {
	var asked []int64
	top := func(n int64) int64 { asked = append(asked, n); return n - 1 }
	b := Backoff{Min: time.Second, Max: 60 * time.Second, Rand: top}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		if d := b.Next(); d != w*time.Second {
			t.Fatalf("attempt %d: max delay %v, want %v", i, d, w*time.Second)
		}
	}
	for i, n := range asked {
		if n != int64(want[i]*time.Second)+1 {
			t.Fatalf("attempt %d drew from [0,%d), want the full range [0,%d]", i, n, want[i]*time.Second)
		}
	}
	b.Rand = func(n int64) int64 { return 0 }
	if d := b.Next(); d != 0 {
		t.Fatalf("full jitter must reach 0, got %v", d)
	}
	b.Reset()
	b.Rand = top
	if d := b.Next(); d != time.Second {
		t.Fatalf("after Reset: %v, want 1s", d)
	}
	// With the real source every delay stays inside its bound.
	r := Backoff{Min: time.Second, Max: 60 * time.Second}
	for i := 0; i < 1000; i++ {
		ceil := min(time.Second<<min(i, 10), 60*time.Second)
		if d := r.Next(); d < 0 || d > ceil {
			t.Fatalf("attempt %d: %v outside [0, %v]", i, d, ceil)
		}
	}
}

func TestFirstSpreadsTheFirstRetryOnly(t *testing.T) {
	top := func(n int64) int64 { return n - 1 }
	b := Backoff{First: 5 * time.Second, Min: time.Second, Max: 30 * time.Second, Rand: top}
	want := []time.Duration{5, 2, 4, 8, 16, 30, 30}
	for round := 0; round < 2; round++ {
		for i, w := range want {
			if d := b.Next(); d != w*time.Second {
				t.Fatalf("round %d attempt %d: %v, want %v", round, i, d, w*time.Second)
			}
		}
		if b.Attempts() == 0 {
			t.Fatal("Attempts not counted")
		}
		b.Reset()
	}
}

func TestWithin(t *testing.T) {
	var b Backoff
	if d := b.Within(0); d != 0 {
		t.Fatalf("Within(0) = %v", d)
	}
	for range 1000 {
		if d := b.Within(time.Millisecond); d < 0 || d > time.Millisecond {
			t.Fatalf("Within(1ms) = %v", d)
		}
	}
}
