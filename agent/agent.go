package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/agent/outbox"
	"github.com/carrel-kiosk/carrel/agent/selftest"
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/agent/wol"
	"github.com/carrel-kiosk/carrel/internal/auditwatch"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// StopTimeout is how long Run waits for components after its context is done.
const StopTimeout = 10 * time.Second

// ErrStopTimeout is returned by Run when components did not return in time.
var ErrStopTimeout = errors.New("components did not stop in time")

type component struct {
	name string
	run  func(ctx context.Context) error
}

// Agent is one running carrel-agent: the components New assembled, run by Run.
type Agent struct {
	cfg     config.Config
	version string
	log     *slog.Logger
	start   time.Time
	boots   int
	// stopTimeout is StopTimeout; tests shorten it.
	stopTimeout time.Duration

	outbox    *outbox.Outbox
	status    *status.Collector
	downloads *downloads.Guard       // nil when disabled
	policy    *browserpolicy.Manager // nil when disabled
	seat      *seat                  // nil when disabled
	selftest  *selfTester
	maint     *maintenance
	link      *link.Client

	// welcomed, when set (tests), sees each Welcome after the seat applied it.
	welcomed func(protocol.Welcome)

	hubCA *x509.Certificate  // the pinned CA, which signs the hub's audit heads
	heads *auditwatch.Keeper // the highest audit head the hub sent

	mu      sync.Mutex // guards comps, ran and running
	comps   []component
	ran     bool
	running map[string]bool
}

var _ protocol.EventSink = (*outbox.Outbox)(nil)

// New assembles the agent from its configuration, in the order its parts
// depend on each other, and returns it ready to Run. version is the build's
// version (main's ldflags value), reported in the status and agent.started.
//
// It fails if the configuration names no hub or the agent is not enrolled
// (link.ErrNotEnrolled), if the state directory is not private to the service,
// or if an enabled component cannot be built.
//
// The one chicken-and-egg problem: the status the link sends carries the
// certificate expiry, which only the link knows (it renews the certificate).
// The collector is built first and the link reports the certificate back to it
// (OnCert). Everything else is a straight line: the components report through
// the outbox, which exists before them, so none needs the link; the link comes
// last because it hands staff commands to the components (Agent.handler) and
// the hub's lock state to the seat (Agent.welcome).
func New(cfg config.Config, version string, log *slog.Logger) (*Agent, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// 1. The configuration, the state directory and the enrolled identity.
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.HubURL == "" {
		return nil, fmt.Errorf("config: hub_url is empty: %w", link.ErrNotEnrolled)
	}
	if err := config.EnsureStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	id, err := link.LoadIdentity(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, version: version, log: log, start: time.Now(), running: map[string]bool{}, stopTimeout: StopTimeout, hubCA: id.CA}
	// The highest signed audit head the hub sent (issue 16 §1): a hub whose
	// audit log went backwards or was rewritten is reported (welcome).
	if a.heads, err = auditwatch.Open(filepath.Join(cfg.StateDir, auditwatch.FileName)); err != nil {
		return nil, err
	}

	// 2. The start counter and the outbox every component reports through.
	restarts, err := status.CountStart(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a.boots = restarts
	a.outbox, err = outbox.Open(cfg.StateDir, outbox.Options{MaxEvents: cfg.OutboxMaxEvents, MaxBytes: cfg.OutboxMaxBytes, Log: log})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Agent, error) {
		a.outbox.Close()
		return nil, err
	}

	// 3. The status collector (the components set their part of it).
	a.status = status.New(context.Background(), status.Options{
		AgentVersion: version, Started: a.start, Restarts: restarts, Dropped: a.outbox.Dropped, Log: log,
	})

	// 4. The components, in the order they run. A section named in the
	// configuration's disable list is not built. What the guards refuse is
	// also told to the patron, through the seat (patronNotices).
	// The guards' reports of the self-test's own canaries are kept back
	// (canarySink): the self-test's event says what the guards did.
	notices := newPatronNotices(log.With("component", "patron_notices"))
	canaries := &selftest.Canaries{}
	guardSink := canarySink{notices.sink(a.outbox), canaries, log.With("component", "selftest")}
	a.maint = &maintenance{status: a.status, log: log.With("component", "maintenance")}
	if cfg.Enabled("downloads") {
		if a.downloads, err = newDownloads(cfg, guardSink, log.With("component", "downloads")); err != nil {
			return fail(err)
		}
		a.add("downloads", a.downloads.Run)
		a.maint.pausers = append(a.maint.pausers, a.downloads.SetPaused)
	}
	if cfg.Enabled("exec_guard") {
		eg, err := newExecGuard(cfg, guardSink, log.With("component", "exec_guard"))
		if err != nil {
			return fail(err)
		}
		a.add("exec_guard", eg.Run)
		a.maint.pausers = append(a.maint.pausers, eg.SetPaused)
	}
	if cfg.Enabled("browser_policy") {
		var run func(context.Context) error
		a.policy, run = newBrowserPolicy(cfg, a.outbox, a.status, log.With("component", "browser_policy"))
		a.add("browser_policy", run)
	}
	if cfg.Enabled("session") {
		// The seat: one logon gate (gate.go) shared by the wipe engine and the
		// session manager; unfinished wipes are resumed before the watcher runs.
		if a.seat, err = newSeat(cfg, a.outbox, a.status, nil, log); err != nil {
			return fail(err)
		}
		if a.seat.engine != nil {
			a.add("wipe_purge", a.seat.engine.PurgeLoop)
		}
		a.add("session", a.seat.Run)
		a.add("seat_status", a.seat.mirrorStatus)
		a.add("patron_notices", notices.run(a.seat.Notify))
	}
	// The self-test proves the guards above, nightly and on demand; at its
	// start it removes what a killed self-test left.
	var lock selftest.LockProbe
	if a.seat != nil {
		lock = a.seat // the session manager's ProbeLock
	}
	a.selftest = newSelfTester(cfg, canaries, lock, a.outbox, a.status, log.With("component", "selftest"))
	a.add("selftest", a.selftest.run)
	a.add("maintenance", a.maint.run)

	// 5. The link to the hub, last: it dispatches to what is above.
	a.link, err = link.New(link.Options{
		HubURL: cfg.HubURL, StateDir: cfg.StateDir, Outbox: a.outbox, Status: a.status, Log: log,
		Changed: status.Changed, StatusNudge: a.status.Nudged(),
		// Every change staff must see at once nudges (the status setters and
		// the seat); the status is not polled between the full ones.
		StatusInterval: cfg.StatusInterval.D(), StatusCheck: cfg.StatusInterval.D(),
		Commands:  a.handler,
		OnCert:    func(c *x509.Certificate) { a.status.SetCertExpires(c.NotAfter) },
		OnWelcome: a.welcome,
		OnGrant:   a.grantUpdate,
	})
	if err != nil {
		return fail(err)
	}
	if a.seat != nil {
		// The patron's sign-in goes to the hub over the link (seat first,
		// link last: the seat is given the link now).
		a.seat.SetHub(session.HubFunc(a.signIn))
	}
	a.comps = append([]component{{"link", a.link.Run}, {"outbox_watch", a.watchOutbox}}, a.comps...)
	return a, nil
}

// handler is the agent's command table: the component that carries out each
// staff action, nil when it is disabled or absent on this OS (the link then
// answers "not supported"). The link has already refused actions outside the
// closed set and answers ping itself.
func (a *Agent) handler(action protocol.Action) protocol.CommandHandler {
	switch action {
	case protocol.ActionReleaseQuarantine:
		if a.downloads != nil {
			return a.downloads.ReleaseHandler()
		}
	case protocol.ActionApplyPolicy:
		if a.policy != nil {
			return applyPolicyHandler(a.policy)
		}
	case protocol.ActionWake:
		return wol.Sender{}.Handler() // relay Wake-on-LAN to PCs on this one's subnet
	case protocol.ActionSelfTest:
		return a.selftest.handler()
	case protocol.ActionMaintenance:
		return a.maint.handler()
	default:
		if a.seat != nil {
			return a.seat.Handlers()[action] // lock, unlock, message, end-session, wipe-now, reboot, shutdown
		}
	}
	return nil
}

// signIn is the seat's way to the hub: a patron's sign-in over the link.
func (a *Agent) signIn(ctx context.Context, s protocol.SignIn) (protocol.SignInAnswer, error) {
	ans, err := a.link.SignIn(ctx, s)
	if errors.Is(err, link.ErrNoLink) {
		err = fmt.Errorf("%w: %w", session.ErrHubDown, err)
	}
	return ans, err
}

// grantUpdate applies the hub's changed grant to the running patron session.
func (a *Agent) grantUpdate(g protocol.Grant) {
	if a.seat == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.seat.UpdateGrant(ctx, g); err != nil {
		a.log.Error("Hub's grant update not applied", "grant", g.ID, "err", err)
	}
}

// welcome re-applies the hub's truth (the lock) on every (re)connect. It runs
// on the link's goroutine.
func (a *Agent) welcome(w protocol.Welcome) {
	a.checkAuditHead(w.AuditHead)
	if a.seat != nil {
		if err := a.seat.SetGrantKey(w.GrantKey); err != nil {
			a.log.Error("Hub's grant key not kept", "err", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.seat.ApplyLock(ctx, w.Locked); err != nil {
			a.log.Error("Hub's lock state not applied", "locked", w.Locked, "err", err)
		}
	}
	if a.welcomed != nil {
		a.welcomed(w)
	}
}

// checkAuditHead compares the hub's signed audit head with the highest kept:
// one that went backwards, was rewritten or is not the CA's is logged here
// and reported as an alert event (the console shows it; the local log keeps
// it whatever the hub does with the event).
func (a *Agent) checkAuditHead(head string) {
	c, err := a.heads.Observe(a.hubCA, head)
	if err != nil {
		a.log.Warn("Hub's audit head not kept", "err", err)
	}
	if !c.Verdict.Alarm() {
		return
	}
	a.log.Error("Hub's audit log does not follow what it signed before", "verdict", c.Verdict.String(), "text", c.Text(),
		"kept", c.Kept.String(), "got", c.Got.String())
	if err := a.outbox.Emit(protocol.EventAuditAlarm, protocol.SeverityAlert, map[string]string{
		protocol.DataVerdict: c.Verdict.String(), protocol.DataKept: c.Kept.String(), protocol.DataGot: protocol.Clip(c.Got.String(), 512),
	}); err != nil {
		a.log.Error("Audit alarm not queued", "err", err)
	}
}

// TerminalID is the ID the hub gave this PC at enrollment.
func (a *Agent) TerminalID() string { return a.link.TerminalID() }

// add appends a component to run under Run's context (New, and tests before
// Run). run must return when its context is done; an error from it stops the
// agent.
func (a *Agent) add(name string, run func(ctx context.Context) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ran {
		return fmt.Errorf("add %s: the agent is already running", name)
	}
	for _, c := range a.comps {
		if c.name == name {
			return fmt.Errorf("add %s: a component of that name exists", name)
		}
	}
	a.comps = append(a.comps, component{name, run})
	return nil
}

// Run runs the link, the outbox watch and every component until ctx is done or
// one of them fails. It returns nil after a cancellation, the first component's
// error otherwise, and ErrStopTimeout (naming the stragglers) when components
// are still running StopTimeout after the end began. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.ran {
		a.mu.Unlock()
		return errors.New("run: the agent ran already")
	}
	a.ran = true
	comps := slices.Clone(a.comps)
	a.mu.Unlock()

	a.log.Info("Agent starting", "version", a.version, "terminal", a.TerminalID(), "hub", a.cfg.HubURL, "restarts", a.boots)
	if err := a.outbox.Emit(protocol.EventAgentStarted, protocol.SeverityInfo, map[string]string{
		protocol.DataVersion: a.version, protocol.DataRestarts: strconv.Itoa(a.boots),
	}); err != nil {
		a.log.Error("Event not recorded", "kind", protocol.EventAgentStarted, "err", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, c := range comps {
		a.setRunning(c.name, true)
		g.Go(func() error {
			defer a.setRunning(c.name, false)
			err := c.run(gctx)
			if err != nil && gctx.Err() == nil {
				a.log.Error("Component failed; stopping the agent", "component", c.name, "err", err)
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-gctx.Done():
		t := time.NewTimer(a.stopTimeout)
		select {
		case err = <-done:
			t.Stop()
		case <-t.C:
			err = fmt.Errorf("%w: %v still running after %s", ErrStopTimeout, a.stillRunning(), a.stopTimeout)
			a.log.Error("Agent stop timed out", "components", a.stillRunning())
			return err // leave the outbox open: a straggler may still emit
		}
	}
	if cerr := a.outbox.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close outbox: %w", cerr)
	}
	a.log.Info("Agent stopped", "err", err)
	return err
}

func (a *Agent) setRunning(name string, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if on {
		a.running[name] = true
	} else {
		delete(a.running, name)
	}
}

func (a *Agent) stillRunning() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var names []string
	for n := range a.running {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// watchOutbox turns outbox overflow into an event every status interval, so a
// loss is visible in the event history as well as in the status.
func (a *Agent) watchOutbox(ctx context.Context) error {
	last := a.outbox.Dropped()
	t := time.NewTicker(a.cfg.StatusInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if d := a.outbox.Dropped(); d > last {
			if err := a.outbox.Emit(protocol.EventOutboxOverflow, protocol.SeverityWarn, map[string]string{
				protocol.DataDropped: strconv.FormatUint(d-last, 10), protocol.DataDroppedTotal: strconv.FormatUint(d, 10),
			}); err != nil {
				a.log.Error("Event not recorded", "kind", protocol.EventOutboxOverflow, "err", err)
			}
			last = d
		}
	}
}
