// Package backoff computes retry delays: capped exponential with full jitter,
// the one backoff of Carrel (the agent's link to the hub, enrollment from the
// preseed, the session watcher's restarts).
//
// Full jitter (each delay uniform in [0, ceiling]) is what keeps a fleet that
// failed at the same moment from retrying at the same moment. First lets the
// very first retry spread wider than Min: when a hub restarts, every agent
// loses it in the same millisecond, and the first wave is the whole fleet;
// later retries are already spread by the first.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff is the state of one retrying loop; the zero value of each bound is
// taken as Min. It is not safe for concurrent use.
type Backoff struct {
	// First bounds the first delay (after New and after each Reset); zero
	// means Min.
	First time.Duration
	// The n-th delay (from 0) is uniform in [0, min(Max, Min·2ⁿ)], except the
	// first when First is set.
	Min, Max time.Duration
	// Rand returns a uniform integer in [0, n); nil uses math/rand/v2.
	Rand    func(n int64) int64
	attempt int
}

// Next returns the next delay and counts the attempt.
func (b *Backoff) Next() time.Duration {
	maxD := max(b.Max, b.Min)
	ceil := b.Min
	for i := 0; i < b.attempt && ceil < maxD; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxD)
	if b.attempt == 0 && b.First > 0 {
		ceil = b.First
	}
	if ceil < maxD || b.attempt == 0 {
		b.attempt++
	}
	return b.Within(ceil)
}

// Reset starts again from the first delay, after an attempt that succeeded
// (for a connection: one that stayed up).
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts is how many delays Next has returned since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Within returns a uniform delay in [0, d], from b.Rand.
func (b *Backoff) Within(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if b.Rand != nil {
		return time.Duration(b.Rand(int64(d) + 1))
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}
