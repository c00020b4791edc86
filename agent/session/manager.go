package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Options are what a Manager is built from. Log, Watcher, Wiper, Controller,
// Power and Sink are required.
type Options struct {
	Config     Config
	Log        *slog.Logger
	Watcher    Watcher
	Wiper      Wiper
	Controller Controller
	Power      Power
	Sink       EventSink
	// StateDir holds the lock state file (the agent's checked state directory).
	StateDir string
	// Clock defaults to the real clock.
	Clock Clock
	// Mono is the monotonic clock a patron's grant is counted on; default
	// the real one.
	Mono Mono
}

// Manager keeps the seat's session state and lock, runs wipes after a patron's
// logoff, and carries out the session commands. Run it once; its methods are
// safe for concurrent use, and the command handlers may be called before Run.
type Manager struct {
	log    *slog.Logger
	cfg    Config
	policy *Policy
	watch  Watcher
	wiper  Wiper
	ctl    Controller
	power  Power
	sink   EventSink
	store  *LockStore
	clock  Clock
	// sleep waits d or until ctx ends (end-session's grace); real time, replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error

	changes chan struct{} // cap 1, coalesced
	wake    chan struct{} // cap 1, wakes the wipe worker
	bg      sync.WaitGroup

	holdMu    sync.Mutex // serialises HoldLogons; guards held, heldKnown
	held      bool
	heldKnown bool

	mu       sync.Mutex // guards everything below
	ls       LockState
	sessions map[string]Session // open patron sessions by id
	stale    map[string]bool    // sessions not yet confirmed by the current watcher run
	queue    []wipeJob          // wipes waiting for the worker
	wiping   bool               // the worker is wiping
	state    protocol.SessionState
	since    time.Time
	lastWipe string

	desk *desk // the signed-in patron session (Config.PatronSignIn)
}

type wipeJob struct {
	user User
	done chan error // nil for wipes after logoff
}

var _ SessionSource = (*Manager)(nil)

// New makes a Manager and loads the lock state. A lock state file that cannot be
// read is not fatal: the seat starts locked and dirty (fail closed) and Run
// reports it.
func New(o Options) (*Manager, error) {
	if o.Log == nil || o.Watcher == nil || o.Wiper == nil || o.Controller == nil || o.Power == nil || o.Sink == nil {
		return nil, errors.New("session: Log, Watcher, Wiper, Controller, Power and Sink are required")
	}
	if o.StateDir == "" {
		return nil, errors.New("session: StateDir is required")
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Config.WipeTimeout <= 0 {
		o.Config.WipeTimeout = DefaultConfig().WipeTimeout
	}
	if o.Config.OfflineMinutes < 0 || o.Config.OfflineMinutes > 24*60 {
		return nil, fmt.Errorf("session: offline_minutes %d is out of range (0 to %d)", o.Config.OfflineMinutes, 24*60)
	}
	if o.Mono == nil {
		start := time.Now()
		o.Mono = func() time.Duration { return time.Since(start) }
	}
	m := &Manager{
		log: o.Log, cfg: o.Config, policy: NewPolicy(o.Config), watch: o.Watcher, wiper: o.Wiper,
		ctl: o.Controller, power: o.Power, sink: o.Sink, store: NewLockStore(o.StateDir), clock: o.Clock, sleep: sleepCtx,
		changes:  make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		sessions: make(map[string]Session),
		state:    protocol.SessionFree,
	}
	m.desk = newDesk(m, o.Mono, o.StateDir)
	ls, err := m.store.Load()
	m.ls = ls
	if err != nil {
		m.log.Error("Lock state unreadable; starting locked and dirty", "error", err)
		m.emit(protocol.EventStateBroken, protocol.SeverityAlert, map[string]string{protocol.DataError: err.Error()})
	}
	for _, name := range ls.Pending {
		m.queue = append(m.queue, wipeJob{user: User{Name: name, UID: lookupUID(name)}})
	}
	m.since = m.clock.Now()
	m.recompute()
	return m, nil
}

// Current returns the seat's state and since when it holds.
func (m *Manager) Current() (protocol.SessionState, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.since
}

// Changes implements SessionSource.
func (m *Manager) Changes() <-chan struct{} { return m.changes }

// Locked reports whether staff locked the seat (Status.Locked).
func (m *Manager) Locked() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ls.Locked
}

// LastWipe is a one-line result of the last wipe this run ("clean 412ms",
// "dirty: ..."), for Status.LastWipe.
func (m *Manager) LastWipe() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastWipe
}

// Run watches sessions and runs wipes until ctx ends. It applies the persisted
// lock at once, finishes wipes a crash interrupted, and restarts the watcher
// with backoff when it fails. It returns nil when ctx ends, and an error
// wrapping ErrNotImplemented (do not restart) when this OS has no watcher.
func (m *Manager) Run(ctx context.Context) error {
	defer m.bg.Wait()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	// cancel runs first: it stops the worker, then wg.Wait and bg.Wait return.
	defer cancel()
	_ = m.applyHold(ctx) // logged and reported inside
	m.signal(m.wake)

	wg.Add(1)
	go func() {
		defer wg.Done()
		m.wipeWorker(ctx)
	}()
	if r, ok := helpersOf(m.ctl); ok {
		// The session helpers (lock overlay) live as long as the Manager runs.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.runHelpers(ctx, m.sink); err != nil {
				m.log.Error("Session helpers stopped", "error", err)
			}
		}()
	}

	if m.cfg.PatronSignIn {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.desk.runDesk(ctx)
		}()
	}

	bo := backoff.Backoff{Min: time.Second, Max: 30 * time.Second}
	for {
		m.mu.Lock()
		m.stale = make(map[string]bool, len(m.sessions))
		for id := range m.sessions {
			m.stale[id] = true
		}
		m.mu.Unlock()
		start := time.Now()
		err := m.watch.Run(ctx, func(ev Event) { m.handle(ctx, ev) })
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrNotImplemented) {
			return fmt.Errorf("session watcher: %w", err) // retrying will not help
		}
		if err == nil {
			err = errors.New("watcher stopped")
		}
		if time.Since(start) > time.Minute {
			bo.Reset()
		}
		delay := bo.Next()
		m.log.Warn("Session watcher failed; restarting", "error", err, "backoff", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// handle is the watcher callback; it runs on the watcher's goroutine and must
// not block on the OS: slow work goes to the worker or a background goroutine.
func (m *Manager) handle(ctx context.Context, ev Event) {
	switch ev.Kind {
	case 0:
		m.listComplete()
	case Logon:
		m.logon(ctx, ev)
	case Logoff:
		m.logoff(ev.Session.ID)
	}
}

func (m *Manager) listComplete() {
	m.mu.Lock()
	var gone []string
	for id := range m.stale {
		gone = append(gone, id)
	}
	m.stale = nil
	m.mu.Unlock()
	for _, id := range gone {
		m.logoff(id) // ended while the watcher was down
	}
	if m.cfg.PatronSignIn {
		m.desk.listed()
	}
}

func (m *Manager) logon(ctx context.Context, ev Event) {
	s := ev.Session
	if !m.policy.IsPatron(s) {
		m.log.Debug("Non-patron session ignored", "session", s.ID)
		return
	}
	m.mu.Lock()
	delete(m.stale, s.ID)
	if _, dup := m.sessions[s.ID]; dup {
		m.mu.Unlock()
		return
	}
	held := m.ls.Locked || m.ls.Dirty != "" || m.wiping || len(m.queue) > 0
	locked := m.ls.Locked
	m.sessions[s.ID] = s
	if !slices.Contains(m.ls.Patrons, s.User) && len(m.ls.Patrons) < 256 {
		m.ls.Patrons = append(m.ls.Patrons, s.User)
		m.saveLocked()
	}
	m.recompute()
	m.mu.Unlock()

	switch {
	case held && !ev.Initial:
		// PAM should have refused it; this is the backstop.
		reason := m.holdReason()
		m.log.Warn("Patron logon while the seat is held; ending it", "session", s.ID, "reason", reason)
		m.emit(protocol.EventSessionRefused, protocol.SeverityWarn, map[string]string{protocol.DataSession: s.ID, protocol.DataReason: reason})
		m.background(func() {
			if err := m.ctl.Terminate(ctx, s); err != nil {
				m.log.Error("End refused session", "session", s.ID, "error", err)
			}
		})
	case m.cfg.PatronSignIn:
		// The sign-in form; session.started follows the hub's grant.
		m.desk.opened(ctx, s, ev.Initial)
		if locked {
			m.background(func() {
				if err := m.ctl.LockSession(ctx, s); err != nil && !errors.Is(err, ErrNotImplemented) {
					m.log.Warn("Lock open session", "session", s.ID, "error", err)
				}
			})
		}
	default:
		m.emit(protocol.EventSessionStarted, protocol.SeverityInfo, map[string]string{protocol.DataSession: s.ID})
		if locked {
			m.background(func() {
				if err := m.ctl.LockSession(ctx, s); err != nil && !errors.Is(err, ErrNotImplemented) {
					m.log.Warn("Lock open session", "session", s.ID, "error", err)
				}
			})
		}
	}
}

func (m *Manager) logoff(id string) {
	m.mu.Lock()
	_, ok := m.sessions[id]
	m.mu.Unlock()
	if !ok {
		return
	}
	// Reported before the wipe is queued, so the hub sees ended, then wiped.
	// Where patrons sign in, a session that never had a grant was nobody's.
	data, granted := m.desk.closed(id)
	if granted || !m.cfg.PatronSignIn {
		m.emit(protocol.EventSessionEnded, protocol.SeverityInfo, data)
	}
	m.mu.Lock()
	s := m.sessions[id] // only the watcher goroutine adds or removes sessions
	delete(m.sessions, id)
	last := true
	for _, o := range m.sessions {
		if o.User == s.User {
			last = false
		}
	}
	if last {
		m.queue = append(m.queue, wipeJob{user: User{Name: s.User, UID: s.UID}})
		if !slices.Contains(m.ls.Pending, s.User) {
			m.ls.Pending = append(m.ls.Pending, s.User)
		}
		m.saveLocked()
	}
	m.recompute()
	m.mu.Unlock()
	m.ctl.Ended(s) // before the wipe: nothing of ours runs as the patron any more
	if last {
		m.signal(m.wake)
	}
}

// wipeWorker runs queued wipes one at a time, holding logons meanwhile.
func (m *Manager) wipeWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			if len(m.queue) == 0 || ctx.Err() != nil {
				m.wiping = false
				m.recompute()
				m.mu.Unlock()
				break
			}
			job := m.queue[0]
			m.queue = m.queue[1:]
			m.wiping = true
			m.recompute()
			m.mu.Unlock()
			_ = m.applyHold(ctx) // logged and reported inside
			err := m.wipeOne(ctx, job.user)
			if job.done != nil {
				job.done <- err
			}
		}
		_ = m.applyHold(ctx) // logged and reported inside
	}
}

func (m *Manager) wipeOne(ctx context.Context, u User) error {
	wctx, cancel := context.WithTimeout(ctx, time.Duration(m.cfg.WipeTimeout))
	defer cancel()
	start := m.clock.Now()
	err := m.wiper.Wipe(wctx, u)
	took := m.clock.Now().Sub(start).Round(time.Millisecond)
	if ctx.Err() != nil {
		// Stopping: the account stays pending and is wiped at the next start.
		return fmt.Errorf("wipe interrupted: %w", ctx.Err())
	}
	m.mu.Lock()
	m.ls.Pending = slices.DeleteFunc(m.ls.Pending, func(n string) bool { return n == u.Name })
	if err != nil {
		m.ls.Dirty = oneLine(err.Error(), 200)
		m.ls.CleanAt = time.Time{}
		m.lastWipe = "dirty: " + m.ls.Dirty
	} else {
		m.ls.Dirty = ""
		m.ls.CleanAt = m.clock.Now().UTC()
		m.lastWipe = "clean " + took.String()
	}
	m.saveLocked()
	m.recompute()
	m.mu.Unlock()
	if err != nil {
		m.log.Error("Wipe not clean; seat stays held", "error", err)
		m.emit(protocol.EventSessionDirty, protocol.SeverityAlert, map[string]string{protocol.DataReason: oneLine(err.Error(), 200)})
		return err
	}
	m.log.Info("Wipe clean", "took", took)
	m.emit(protocol.EventSessionWiped, protocol.SeverityInfo, map[string]string{protocol.DataTook: took.String()})
	return nil
}

// applyHold makes the OS hold or release patron logons to match the state. A
// failure is logged and reported as an event, and returned for the command
// handlers; ErrNotImplemented is not a failure (the backstop ends sessions).
func (m *Manager) applyHold(ctx context.Context) error {
	m.holdMu.Lock()
	defer m.holdMu.Unlock()
	m.mu.Lock()
	want := m.ls.Locked || m.ls.Dirty != "" || m.wiping || len(m.queue) > 0
	accounts := slices.Clone(m.cfg.PatronUsers)
	for _, p := range m.ls.Patrons {
		if !slices.Contains(accounts, p) {
			accounts = append(accounts, p)
		}
	}
	m.mu.Unlock()
	if m.heldKnown && m.held == want {
		return nil
	}
	err := m.ctl.HoldLogons(ctx, accounts, want)
	switch {
	case errors.Is(err, ErrNotImplemented):
		m.log.Debug("Holding logons not implemented here; relying on ending new sessions")
	case err != nil:
		m.log.Error("Hold patron logons", "hold", want, "error", err)
		m.emit(protocol.EventHoldFailed, protocol.SeverityAlert, map[string]string{protocol.DataHold: fmt.Sprint(want), protocol.DataError: oneLine(err.Error(), 200)})
		return err
	}
	m.held, m.heldKnown = want, true
	return nil
}

func (m *Manager) holdReason() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.ls.Locked:
		return "locked"
	case m.ls.Dirty != "":
		return "dirty"
	default:
		return "wiping"
	}
}

// recompute derives the seat state; m.mu must be held.
func (m *Manager) recompute() {
	st := protocol.SessionFree
	since := time.Time{}
	switch {
	case m.wiping || len(m.queue) > 0:
		st = protocol.SessionWiping
	case m.ls.Dirty != "":
		st = protocol.SessionDirty
	case m.ls.Locked:
		st = protocol.SessionLocked
	case len(m.sessions) > 0 && (!m.cfg.PatronSignIn || m.desk.signedIn()):
		st = protocol.SessionInUse
		for _, s := range m.sessions {
			if since.IsZero() || s.Since.Before(since) {
				since = s.Since
			}
		}
	}
	if st == m.state && (st != protocol.SessionInUse || since.Equal(m.since)) {
		return
	}
	if since.IsZero() {
		since = m.clock.Now()
	}
	m.state, m.since = st, since
	m.signal(m.changes)
}

// saveLocked persists m.ls; m.mu must be held. A failure is logged: the state in
// memory still holds, and the next save retries.
func (m *Manager) saveLocked() {
	if err := m.store.Save(m.ls); err != nil {
		m.log.Error("Save lock state", "error", err)
	}
}

func (m *Manager) emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) {
	if err := m.sink.Emit(kind, sev, data); err != nil {
		m.log.Error("Emit event", "kind", kind, "error", err)
	}
}

func (m *Manager) background(f func()) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		f()
	}()
}

func (m *Manager) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// oneLine folds s onto one line and clips it to max bytes.
func oneLine(s string, max int) string {
	return protocol.Clip(strings.Join(strings.Fields(s), " "), max)
}
