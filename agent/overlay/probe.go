package overlay

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoLockShown: ProbeLock found no lock screen wanted in the session.
var ErrNoLockShown = errors.New("no lock screen is shown in the session")

// ProbeLock proves a session's lock screen for the self-test (agent/selftest):
// its helper must report the lock on screen, with its windows mapped and the
// keyboard and pointer grabbed; it is then killed, as a patron would kill it,
// and must be back on screen, grabbed, within back. It returns how long the
// lock took to come back. The restart is reported like any other
// (session.helper_restarted).
func (s *Supervisor) ProbeLock(ctx context.Context, session string, back time.Duration) (time.Duration, error) {
	s.mu.Lock()
	st := s.seats[session]
	if st == nil || st.proc == nil || !st.want.Lock {
		s.mu.Unlock()
		return 0, ErrNoLockShown
	}
	old, r := st.proc, st.last
	s.mu.Unlock()
	if !r.Lock || !r.Grabbed || r.Windows == 0 {
		return 0, fmt.Errorf("the lock screen does not cover the session (lock shown %v, keyboard and pointer grabbed %v, windows %d)", r.Lock, r.Grabbed, r.Windows)
	}
	t0 := time.Now()
	if err := old.hp.Kill(); err != nil {
		return 0, fmt.Errorf("kill the lock screen: %w", err)
	}
	deadline := time.NewTimer(back)
	defer deadline.Stop()
	// A restarted helper's ready report need not change st.shown (the same
	// state comes back), so the wait also looks every 20 ms.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		if s.seats[session] != st {
			s.mu.Unlock()
			return 0, errors.New("the session ended during the probe")
		}
		p, last, ch := st.proc, st.last, st.changed
		s.mu.Unlock()
		if p != nil && p != old && p.wasReady.Load() && last.Lock && last.Grabbed && last.Windows > 0 {
			return time.Since(t0), nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return 0, fmt.Errorf("the lock screen was not back yet after it was killed: %w", ctx.Err())
		case <-deadline.C:
			return 0, fmt.Errorf("the lock screen was not back %s after it was killed", back)
		}
	}
}
