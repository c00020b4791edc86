package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// LockBackWithin is how soon the lock screen must be back after the
// self-test kills it (the lock must hold when the patron kills it: DESIGN
// says within 2 s; the probe allows for a loaded PC).
const LockBackWithin = 5 * time.Second

// lockProber is implemented by controllers whose lock screen is their own
// session helper (Linux X11, Windows): the self-test's probe of it.
type lockProber interface {
	probeLock(ctx context.Context, s Session, back time.Duration) (time.Duration, error)
}

func lockProberOf(c Controller) (lockProber, bool) {
	for c != nil {
		if p, ok := c.(lockProber); ok {
			return p, true
		}
		u, ok := c.(Unwrapper)
		if !ok {
			return nil, false
		}
		c = u.Unwrap()
	}
	return nil, false
}

// ErrNoOverlay: the session has no lock screen of Carrel's own (Wayland, a
// text session); its lock is the session's screen locker.
var ErrNoOverlay = errors.New("the session has no Carrel lock screen (not an X11 or Windows desktop)")

// ProbeLock is the self-test's lock-screen check (agent/selftest): in each
// open patron session of a locked seat, the lock screen must cover the
// session, and come back within LockBackWithin after it is killed. It never
// locks anyone out to test: with no patron session, or with one in use
// (the seat not locked), it says not testable now.
func (m *Manager) ProbeLock(ctx context.Context) (protocol.SelfTestOutcome, string) {
	p, ok := lockProberOf(m.ctl)
	if !ok {
		return protocol.SelfTestNotTestable, "this PC's lock is not a Carrel lock screen"
	}
	m.mu.Lock()
	locked := m.ls.Locked
	var sessions []Session
	for _, s := range m.sessions {
		sessions = append(sessions, s)
	}
	m.mu.Unlock()
	if len(sessions) == 0 {
		return protocol.SelfTestNotTestable, "no patron session is open: the lock screen shows only in one"
	}
	if !locked {
		return protocol.SelfTestNotTestable, "a patron is using the PC (not locked): the self-test does not lock anyone out"
	}
	var skipped []string
	for _, s := range sessions {
		took, err := p.probeLock(ctx, s, LockBackWithin)
		switch {
		case errors.Is(err, ErrNoOverlay), errors.Is(err, overlay.ErrNoLockShown):
			skipped = append(skipped, "session "+s.ID+": "+err.Error())
		case err != nil:
			return protocol.SelfTestFail, fmt.Sprintf("session %s: %v", s.ID, err)
		default:
			return protocol.SelfTestPass, fmt.Sprintf("the lock screen covered session %s and was back %s after it was killed", s.ID, took.Round(time.Millisecond))
		}
	}
	return protocol.SelfTestNotTestable, strings.Join(skipped, "; ")
}
