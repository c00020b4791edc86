package browserpolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Errors; test with errors.Is.
var (
	// ErrNotImplemented is returned on an OS this package has no policy
	// locations for.
	ErrNotImplemented = fmt.Errorf("browser policies are not implemented on this OS: %w", errors.ErrUnsupported)
	// ErrForeignPolicy says a policy file another tool wrote sits where Carrel
	// would write, in a place the browser reads alone; Carrel left it alone.
	ErrForeignPolicy = errors.New("policy file written by another tool")
)

// EventSink receives events for the hub; the agent's outbox implements it.
// Emit must not block for long: it is called with the Manager's lock held.
type EventSink interface {
	Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error
}

// target is one place a browser reads managed policies from: a file, or a
// registry key.
type target interface {
	Browser() string
	// Location is the path or registry key, as shown in logs and events.
	Location() string
	// Ensure makes the location hold Carrel's policy; changed reports a write.
	Ensure() (changed bool, err error)
	// Remove takes away what Carrel wrote there, and only that.
	Remove() error
	// Check reads the location back, writing nothing: nil when it holds
	// Carrel's policy exactly, otherwise what differs.
	Check() error
}

// notifier tells the Manager that a policy location may have changed. Its
// channel carries coalesced wake-ups and is closed if notification stops
// working (the Manager then falls back on the interval).
type notifier interface {
	// Watch (re)arms notification for the locations of targets; locations that
	// do not exist are skipped.
	Watch(targets []target) error
	C() <-chan struct{}
	// Close stops notification and waits for its goroutine.
	Close() error
}

// Manager writes, re-asserts and removes the managed browser policies. Its
// methods are safe for concurrent use; Apply, re-assertion and Remove run one at
// a time.
type Manager struct {
	cfg     Config
	root    string
	log     *slog.Logger
	sink    EventSink
	version string

	mu sync.Mutex // serialises Apply, re-assertion and Remove; guards the fields below
	// owned lists exclusive files written by this process.
	owned map[string]bool
	// applied lists locations ensured at least once: a later write there is a
	// re-assertion.
	applied map[string]bool
	// failed holds the last failure reported per location, to report each
	// distinct failure once.
	failed map[string]string
	// removed is set by Remove and cleared by Apply: Watch does not put back
	// what an uninstall took away.
	removed bool
	// targets is the list of the last Apply, for the notifier.
	targets []target

	// reasserted, when set (tests only), is called after each re-check of
	// Watch, once notification is armed again.
	reasserted func()
}

// New returns a Manager for cfg. root is prepended to every file path ("" is the
// real system; tests give a temporary directory); on Windows a non-empty root
// also moves the registry keys under HKLM\SOFTWARE\CarrelTest\<hash of root>.
// log and sink may be nil.
func New(cfg Config, root string, log *slog.Logger, sink EventSink) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		cfg:     cfg,
		root:    root,
		log:     log.With("component", "browserpolicy"),
		sink:    sink,
		version: policyVersion(cfg),
		owned:   map[string]bool{},
		applied: map[string]bool{},
		failed:  map[string]string{},
	}
}

// PolicyVersion is a short hash of the effective policy, for the agent's status.
func (m *Manager) PolicyVersion() string { return m.version }

// Apply writes every managed policy that is missing or differs and returns the
// locations it wrote. It carries on past a failing location and returns all
// failures joined; a refused foreign file matches ErrForeignPolicy. A location
// that had been applied before and needed writing again is reported as
// protocol.EventPolicyReasserted.
func (m *Manager) Apply() (changed []string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removed = false
	return m.apply()
}

func (m *Manager) apply() (changed []string, err error) {
	if err := m.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("apply browser policy: %w", err)
	}
	targets, err := m.platformTargets()
	if err != nil {
		return nil, fmt.Errorf("apply browser policy: %w", err)
	}
	m.targets = targets
	var errs []error
	for _, t := range targets {
		loc := t.Location()
		wrote, err := t.Ensure()
		if err != nil {
			errs = append(errs, err)
			m.reportFailure(t, err)
			continue
		}
		if prev, ok := m.failed[loc]; ok {
			delete(m.failed, loc)
			m.log.Info("Browser policy applies again", "browser", t.Browser(), "path", loc, "previous", prev)
		}
		if !wrote {
			m.applied[loc] = true
			continue
		}
		changed = append(changed, loc)
		if m.applied[loc] {
			m.log.Warn("Browser policy reasserted", "browser", t.Browser(), "path", loc)
			m.emit(protocol.EventPolicyReasserted, protocol.SeverityWarn, map[string]string{protocol.DataBrowser: t.Browser(), protocol.DataPath: loc})
		} else {
			m.log.Info("Browser policy written", "browser", t.Browser(), "path", loc, "version", m.version)
		}
		m.applied[loc] = true
	}
	return changed, errors.Join(errs...)
}

func (m *Manager) reportFailure(t target, err error) {
	loc, reason := t.Location(), err.Error()
	if m.failed[loc] == reason {
		m.log.Debug("Browser policy still failing", "browser", t.Browser(), "path", loc, "error", err)
		return
	}
	m.failed[loc] = reason
	reason = protocol.Clip(reason, protocol.MaxText)
	kind := protocol.EventPolicyFailed
	if errors.Is(err, ErrForeignPolicy) {
		kind = protocol.EventPolicyRefused
	}
	m.log.Warn("Browser policy not applied", "browser", t.Browser(), "path", loc, "error", err)
	m.emit(kind, protocol.SeverityWarn, map[string]string{protocol.DataBrowser: t.Browser(), protocol.DataPath: loc, protocol.DataReason: reason})
}

func (m *Manager) emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) {
	if m.sink == nil {
		return
	}
	if err := m.sink.Emit(kind, sev, data); err != nil {
		m.log.Warn("Event not recorded", "kind", kind, "error", err)
	}
}

// Remove takes away every policy Carrel wrote, for uninstall: Carrel's own
// files, the registry values and list keys it manages, and exclusive files only
// where they carry Carrel's marker (a file a take-over kept aside is put back).
// Another tool's files and registry values stay. Watch stops re-asserting until
// the next Apply.
func (m *Manager) Remove() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removed = true
	targets, err := m.platformTargets()
	if err != nil {
		return fmt.Errorf("remove browser policy: %w", err)
	}
	var errs []error
	for _, t := range targets {
		if err := t.Remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(m.applied, t.Location())
		m.log.Info("Browser policy removed", "browser", t.Browser(), "path", t.Location())
	}
	return errors.Join(errs...)
}

// ReadBack is one policy location as Verify read it back.
type ReadBack struct {
	Browser  string
	Location string
	Err      error // nil: the location holds Carrel's policy exactly
}

// Verify reads every managed policy back from where its browser reads it
// (files; the registry on Windows), writing nothing, and reports each
// location (the self-test's proof, agent/selftest). The error is for a
// configuration that names no location on this OS.
func (m *Manager) Verify() ([]ReadBack, error) {
	if err := m.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("verify browser policy: %w", err)
	}
	targets, err := m.platformTargets()
	if err != nil {
		return nil, fmt.Errorf("verify browser policy: %w", err)
	}
	out := make([]ReadBack, 0, len(targets))
	for _, t := range targets {
		out = append(out, ReadBack{Browser: t.Browser(), Location: t.Location(), Err: t.Check()})
	}
	return out, nil
}

// Watch applies the policies and keeps them applied until ctx is done: on every
// change notification of the policy locations (inotify on Linux, registry change
// notification on Windows) and every Config.Interval. A location changed or
// deleted after it was applied is restored and reported as protocol.EventPolicyReasserted.
// It returns nil when ctx is cancelled, and an error only when it cannot work at
// all (an invalid Config, ErrNotImplemented): do not restart it then.
func (m *Manager) Watch(ctx context.Context) error {
	if err := m.cfg.Validate(); err != nil {
		return fmt.Errorf("watch browser policy: %w", err)
	}
	if _, err := m.platformTargets(); err != nil {
		return fmt.Errorf("watch browser policy: %w", err)
	}
	var kick <-chan struct{}
	n, err := newNotifier(m)
	switch {
	case err == nil:
		defer n.Close()
		kick = n.C()
	case errors.Is(err, ErrNotImplemented):
		m.log.Info("Browser policy re-checked by interval only", "interval", m.cfg.Interval)
	default:
		m.log.Warn("Browser policy change notification unavailable", "error", err, "interval", m.cfg.Interval)
	}
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	for {
		m.reassert(n)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case _, ok := <-kick:
			if !ok {
				m.log.Warn("Browser policy change notification stopped", "interval", m.cfg.Interval)
				kick = nil
			}
		}
	}
}

func (m *Manager) reassert(n notifier) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reasserted != nil {
		defer m.reasserted()
	}
	if m.removed {
		return
	}
	m.apply() // failures are logged and reported per location
	if n == nil {
		return
	}
	if err := n.Watch(m.targets); err != nil {
		m.log.Debug("Browser policy change notification not armed", "error", err)
	}
}
