package hub

import (
	"context"
	"sync"
	"time"
)

// The staff API (staff_*.go): first-run setup, login and logout over plain
// HTTPS, then one websocket per console on the same TLS listener as the agents.
// Every websocket request re-checks the session (absolute and idle expiry, the
// account not disabled) and the role; every refusal and every change is written
// to the audit log. Read-only requests that succeed (terminals, events,
// subscribe, lists) are not audited: the log records what staff did, not what
// they looked at.

func (c *Config) staffDefaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.StaffSessionTTL, 12*time.Hour)
	set(&c.StaffIdleTimeout, 30*time.Minute)
	set(&c.StaffLockout, 15*time.Minute)
	if c.StaffSendQueue <= 0 {
		c.StaffSendQueue = 256
	}
	if c.StaffMaxFailures <= 0 {
		c.StaffMaxFailures = 5
	}
	if c.StaffLoginPerMinute <= 0 {
		c.StaffLoginPerMinute = 10
	}
	if c.StaffLoginBurst <= 0 {
		c.StaffLoginBurst = 20
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// staffState is the hub's staff side.
type staffState struct {
	ipLimit   *rateLimiter  // login and setup attempts per remote address
	userLimit *rateLimiter  // login attempts per user name tried
	unknown   failures      // lockout of names that are not accounts
	argon     chan struct{} // bounds concurrent argon2id runs (19 MiB each)
	params    argonParams   // for new hashes
	now       func() time.Time
	bus       *staffBus

	dummyOnce sync.Once
	dummyHash string
}

func newStaffState(h *Hub) *staffState {
	cfg := &h.cfg
	s := &staffState{
		ipLimit:   newRateLimiter(cfg.StaffLoginPerMinute/60, cfg.StaffLoginBurst),
		userLimit: newRateLimiter(cfg.StaffLoginPerMinute/60, min(cfg.StaffLoginBurst, 2*cfg.StaffMaxFailures)),
		unknown:   failures{m: map[string]*failCount{}},
		argon:     make(chan struct{}, 2),
		params:    defaultArgon,
		now:       time.Now,
	}
	s.bus = newStaffBus(h)
	return s
}

// dummy is a hash to verify against when the user does not exist, so that the
// answer takes as long as for a real account.
func (s *staffState) dummy() string {
	s.dummyOnce.Do(func() { s.dummyHash = hashPassword("not a password", s.params) })
	return s.dummyHash
}

func (h *Hub) now() time.Time { return h.staff.now() }

// withArgon runs fn (an argon2id hash) once one of the few slots is free, or
// gives up when ctx ends: a burst of logins queues instead of taking 19 MiB each.
func (s *staffState) withArgon(ctx context.Context, fn func()) error {
	select {
	case s.argon <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.argon }()
	fn()
	return nil
}
