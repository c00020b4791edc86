package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/agent/outbox"
	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Version is the agent version reported to the hub; cmd/carrel-agent sets it
// from its build-time version before calling New.
var Version = "dev"

// StopTimeout is how long Run waits for components after its context is done.
const StopTimeout = 10 * time.Second

// ErrStopTimeout is returned by Run when components did not return in time.
var ErrStopTimeout = errors.New("components did not stop in time")

// EventSink records one event durably for the hub. data values are short plain text.
type EventSink interface {
	Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error
}

// Handler carries out one staff command; see link.Handler.
type Handler = func(ctx context.Context, args map[string]string) (output string, err error)

type component struct {
	name string
	run  func(ctx context.Context) error
}

// Agent is one running carrel-agent.
type Agent struct {
	cfg    config.Config
	log    *slog.Logger
	outbox *outbox.Outbox
	status *status.Collector
	link   *link.Client
	start  time.Time
	boots  int
	// stopTimeout is StopTimeout; tests shorten it.
	stopTimeout time.Duration

	mu       sync.Mutex // guards comps, ran, running and welcomes
	comps    []component
	ran      bool
	running  map[string]bool
	welcomes []func(protocol.Welcome)
}

var _ EventSink = (*outbox.Outbox)(nil)

// New prepares an agent from its configuration. It fails if the configuration
// names no hub, if the state directory is not private to the service, or if the
// agent is not enrolled (link.ErrNotEnrolled).
func New(cfg config.Config, log *slog.Logger) (*Agent, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.HubURL == "" {
		return nil, fmt.Errorf("config: hub_url is empty: %w", link.ErrNotEnrolled)
	}
	if err := config.EnsureStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, start: time.Now(), running: map[string]bool{}, stopTimeout: StopTimeout}
	if _, err := link.LoadIdentity(cfg.StateDir); err != nil {
		return nil, err
	}
	restarts, err := status.CountStart(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a.boots = restarts
	a.outbox, err = outbox.Open(cfg.StateDir, outbox.Options{MaxEvents: cfg.OutboxMaxEvents, MaxBytes: cfg.OutboxMaxBytes, Log: log})
	if err != nil {
		return nil, err
	}
	a.status = status.New(context.Background(), status.Options{
		AgentVersion: Version, Started: a.start, Restarts: restarts, Dropped: a.outbox.Dropped, Log: log,
	})
	a.link, err = link.New(link.Options{
		HubURL: cfg.HubURL, StateDir: cfg.StateDir, Outbox: a.outbox, Status: a.status,
		Changed: status.Changed, StatusNudge: a.status.Nudged(), Log: log, StatusInterval: cfg.StatusInterval.D(),
		OnCert:    func(c *x509.Certificate) { a.status.SetCertExpires(c.NotAfter) },
		OnWelcome: a.welcome,
	})
	if err != nil {
		a.outbox.Close()
		return nil, err
	}
	return a, nil
}

// TerminalID is the ID the hub gave this PC at enrollment.
func (a *Agent) TerminalID() string { return a.link.TerminalID() }

// Events is the sink every component reports through (the durable outbox).
func (a *Agent) Events() EventSink { return a.outbox }

// Status is the status collector, for components that set lock state, policy
// version or the last wipe result.
func (a *Agent) Status() *status.Collector { return a.status }

// Handle registers the handler for a staff action (before Run). Actions outside
// protocol.Actions, and ping (built in), are refused.
func (a *Agent) Handle(action protocol.Action, fn Handler) error {
	return a.link.Handle(action, fn)
}

// OnWelcome registers fn to receive each Welcome from the hub: the hub's truth
// (the lock state) that the agent re-applies on every (re)connect. fn runs on the
// link's goroutine and must return quickly. Register before Run.
func (a *Agent) OnWelcome(fn func(protocol.Welcome)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.welcomes = append(a.welcomes, fn)
}

func (a *Agent) welcome(w protocol.Welcome) {
	a.mu.Lock()
	fns := slices.Clone(a.welcomes)
	a.mu.Unlock()
	for _, fn := range fns {
		fn(w)
	}
}

// Add registers a component to run under Run's context. run must return when
// its context is done; an error from it stops the agent.
func (a *Agent) Add(name string, run func(ctx context.Context) error) error {
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

// Run runs the link, the status watch and every added component until ctx is
// done or one of them fails. It returns nil after a cancellation, the first
// component's error otherwise, and ErrStopTimeout (naming the stragglers) when
// components are still running StopTimeout after the end began. Run may be
// called once.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.ran {
		a.mu.Unlock()
		return errors.New("run: the agent ran already")
	}
	a.ran = true
	comps := append([]component{
		{"link", a.link.Run},
		{"status", a.watchStatus},
	}, a.comps...)
	a.mu.Unlock()

	a.log.Info("Agent starting", "version", Version, "terminal", a.TerminalID(), "hub", a.cfg.HubURL, "restarts", a.boots)
	if err := a.outbox.Emit(protocol.EventAgentStarted, protocol.SeverityInfo, map[string]string{
		"version": Version, "restarts": strconv.Itoa(a.boots),
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

// watchStatus turns outbox overflow into an event every status interval, so a
// loss is visible in the event history as well as in the status.
func (a *Agent) watchStatus(ctx context.Context) error {
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
				"dropped": strconv.FormatUint(d-last, 10), "droppedTotal": strconv.FormatUint(d, 10),
			}); err != nil {
				a.log.Error("Event not recorded", "kind", protocol.EventOutboxOverflow, "err", err)
			}
			last = d
		}
	}
}
