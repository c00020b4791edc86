package execguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrNotImplemented is returned where an OS has no before-exec enforcement.
var ErrNotImplemented = fmt.Errorf("execguard: not implemented on this platform: %w", errors.ErrUnsupported)

// HelperArg is the argument the agent binary is started with to run the exec
// guard's helper (Linux): cmd/carrel-agent must call HelperMain and exit with
// its result when its first argument is HelperArg.
const HelperArg = "execguard-helper"

// EventSink receives the exec guard's events for the hub.
type EventSink interface {
	// Emit records one event durably for the hub. data values are short plain text.
	Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error
}

// Enforcer stops programs under the roots from starting.
//
// Apply may be called again at any time with a new set of roots, concurrently
// with Run; it returns once the new roots are enforced. Run answers the OS until
// ctx is done. Remove undoes persistent OS state (Windows SRP rules) and is
// called at uninstall, not at every stop.
type Enforcer interface {
	Apply(roots []string) error
	Run(ctx context.Context) error
	Remove() error
}

// Guard runs the OS enforcer and the process watcher over the expanded roots,
// expanding the root patterns again every RootsInterval.
type Guard struct {
	cfg    Config
	enf    Enforcer // nil when disabled, not implemented or failed to start
	enfErr error    // why the enforcer could not start, reported by Run
	pw     *ProcessWatcher
	sink   EventSink
	log    *slog.Logger
	paused atomic.Bool   // a maintenance window: no roots enforced
	rearm  chan struct{} // SetPaused wakes Run to apply at once
}

// SetPaused pauses the guard for a maintenance window (the enforcer and the
// process watcher are given no roots, so Windows' SRP rules are removed too)
// or re-arms it; Run applies the change at once.
func (g *Guard) SetPaused(paused bool) {
	if g.paused.Swap(paused) == paused {
		return
	}
	select {
	case g.rearm <- struct{}{}:
	default:
	}
}

// New makes the guard. Where the OS has no enforcer, or it cannot start (no
// privilege, an old kernel), the process watcher runs alone and Run reports
// why as execguard.error: losing a layer is loud but does not stop the agent.
func New(cfg Config, sink EventSink, log *slog.Logger) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg, sink: sink, log: log, rearm: make(chan struct{}, 1)}
	if cfg.Enforce {
		enf, err := NewEnforcer(sink, log)
		switch {
		case errors.Is(err, ErrNotImplemented):
			log.Warn("No before-exec enforcement on this OS, process watcher only")
		case err != nil:
			log.Error("Before-exec enforcement unavailable, process watcher only", "err", err)
			g.enfErr = err
		default:
			g.enf = enf
		}
	}
	if cfg.KillProcesses {
		g.pw = NewProcessWatcher(cfg.PollInterval, sink, log)
	}
	return g, nil
}

// Run enforces until ctx is done; cancellation returns nil.
func (g *Guard) Run(ctx context.Context) error {
	eg, ctx := errgroup.WithContext(ctx)
	var applied []string
	first := true
	apply := func() {
		roots := downloads.ExpandRoots(g.cfg.Roots)
		if g.paused.Load() {
			roots = nil
		}
		if !first && slices.Equal(roots, applied) {
			return // unchanged: no registry churn, no new marks
		}
		first, applied = false, roots
		if g.enf != nil {
			if err := g.enf.Apply(roots); err != nil {
				g.log.Error("Apply exec rules", "err", err)
				g.sink.Emit(protocol.EventExecGuardError, protocol.SeverityWarn, map[string]string{protocol.DataError: err.Error()})
			}
		}
		if g.pw != nil {
			g.pw.SetRoots(roots)
		}
	}
	if g.enfErr != nil {
		g.sink.Emit(protocol.EventExecGuardError, protocol.SeverityWarn, map[string]string{protocol.DataError: "exec enforcement unavailable: " + g.enfErr.Error()})
	}
	apply()
	if g.enf != nil {
		eg.Go(func() error { return g.enf.Run(ctx) })
	}
	if g.pw != nil {
		eg.Go(func() error { return g.pw.Run(ctx) })
	}
	eg.Go(func() error {
		t := time.NewTicker(g.cfg.RootsInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				apply()
			case <-g.rearm:
				apply()
			}
		}
	})
	return eg.Wait()
}

// Uninstall removes the persistent rules the enforcer wrote (Windows SRP).
func (g *Guard) Uninstall() error {
	if g.enf == nil {
		return nil
	}
	return g.enf.Remove()
}
