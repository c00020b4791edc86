package link

import (
	"math/rand/v2"
	"time"
)

// Backoff computes reconnect delays: capped exponential with full jitter. The
// n-th delay (from 0) is uniform in [0, min(Max, Min·2ⁿ)]. It is not safe for
// concurrent use.
type Backoff struct {
	Min, Max time.Duration
	// Rand returns a uniform integer in [0, n); nil uses math/rand/v2.
	Rand    func(n int64) int64
	attempt int
}

// Next returns the next delay.
func (b *Backoff) Next() time.Duration {
	ceil := b.Min
	for i := 0; i < b.attempt && ceil < b.Max; i++ {
		ceil *= 2
	}
	if ceil > b.Max {
		ceil = b.Max
	}
	if ceil < b.Max {
		b.attempt++
	}
	return time.Duration(b.rand(int64(ceil) + 1))
}

// Reset starts again from Min, after a connection that stayed up.
func (b *Backoff) Reset() { b.attempt = 0 }

func (b *Backoff) rand(n int64) int64 {
	if b.Rand != nil {
		return b.Rand(n)
	}
	return rand.Int64N(n)
}
