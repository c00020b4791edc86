package agent

// The self-test in the service: nightly at [selftest] nightly (local time,
// jittered), on demand from the console (protocol.ActionSelfTest), with
// each run's result sent to the hub as selftest.done and kept in the
// Status's Proof.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/selftest"
	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// selfTester runs the self-test one at a time: every run, nightly or asked
// for, goes through its loop.
type selfTester struct {
	env    *selftest.Env
	cfg    config.SelfTest
	sink   protocol.EventSink
	status *status.Collector
	log    *slog.Logger
	now    func() time.Time
	asked  chan chan selftest.Report // a run asked for; the report comes back on the channel
	// ran, when set (tests), sees each report once it was sent.
	ran func(selftest.Report)
}

func newSelfTester(cfg config.Config, canaries *selftest.Canaries, lock selftest.LockProbe, sink protocol.EventSink, st *status.Collector, log *slog.Logger) *selfTester {
	env := &selftest.Env{Config: cfg, Log: log, Canaries: canaries, Lock: lock}
	return &selfTester{env: env, cfg: cfg.SelfTest, sink: sink, status: st, log: log, now: time.Now, asked: make(chan chan selftest.Report)}
}

// run removes what a killed self-test left, then runs one each night and
// each time one is asked for, until ctx ends.
func (s *selfTester) run(ctx context.Context) error {
	if err := selftest.Cleanup(ctx, s.env); err != nil && !errors.Is(err, selftest.ErrBusy) {
		s.log.Warn("Canaries of an interrupted self-test not all removed", "err", err)
	}
	// The last proof survives a restart (libraries reboot their PCs daily):
	// the console shows when this PC was last proven, not "never".
	if p, err := selftest.LoadSummary(s.env); err == nil {
		s.status.SetProof(p)
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("Last self-test result unreadable", "err", err)
	}
	for {
		var nightly <-chan time.Time
		stop := func() bool { return false }
		if next, ok := s.cfg.NextNightly(s.now()); ok {
			if j := s.cfg.Jitter.D(); j > 0 {
				next = next.Add(rand.N(j))
			}
			t := time.NewTimer(next.Sub(s.now()))
			nightly, stop = t.C, t.Stop
			s.log.Debug("Next nightly self-test", "at", next)
		}
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-nightly:
			s.once(ctx)
		case reply := <-s.asked:
			stop()
			reply <- s.once(ctx)
		}
	}
}

// once runs the self-test and reports it.
func (s *selfTester) once(ctx context.Context) selftest.Report {
	rep, err := selftest.Run(ctx, s.env, selftest.Checks())
	if err != nil {
		// Only ErrBusy: `carrel-agent selftest` is running; its result is
		// printed there and this run is skipped, which the log says.
		s.log.Warn("Self-test not run", "err", err)
		return rep
	}
	if ctx.Err() != nil {
		return rep // stopping: a cut-short run proves nothing
	}
	ev := rep.Event()
	if err := s.sink.Emit(protocol.EventSelfTestDone, ev.Severity(), ev.Data()); err != nil {
		s.log.Error("Event not recorded", "kind", protocol.EventSelfTestDone, "err", err)
	}
	s.status.SetProof(rep.Summary())
	if err := selftest.SaveSummary(s.env, rep.Summary()); err != nil {
		s.log.Warn("Self-test result not kept for the next start", "err", err)
	}
	if failed := rep.Failed(); len(failed) > 0 {
		s.log.Error("Self-test failed", "failed", failed)
	} else {
		s.log.Info("Self-test passed", "took", rep.Took.Round(time.Millisecond))
	}
	if s.ran != nil {
		s.ran(rep)
	}
	return rep
}

// handler is ActionSelfTest: run it now and answer with its summary. A run
// that outlasts the command's deadline goes on; its event tells the rest.
func (s *selfTester) handler() protocol.CommandHandler {
	return func(ctx context.Context, args map[string]string) (string, error) {
		if len(args) > 0 {
			return "", errors.New("selftest takes no arguments")
		}
		reply := make(chan selftest.Report, 1)
		select {
		case s.asked <- reply:
		case <-ctx.Done():
			return "", errors.New("a self-test is running; its result comes as an event")
		}
		select {
		case rep := <-reply:
			if rep.Started.IsZero() {
				return "", errors.New("a self-test is already running on this PC (carrel-agent selftest)")
			}
			return summaryText(rep), nil
		case <-ctx.Done():
			return "self-test started; its result comes as an event", nil
		}
	}
}

// summaryText is a report in one line for staff.
func summaryText(rep selftest.Report) string {
	sum := rep.Summary()
	text := fmt.Sprintf("%d of %d checks passed", sum.Passed, len(rep.Results))
	if len(sum.Failed) > 0 {
		text += "; FAILED: " + strings.Join(sum.Failed, ", ")
	}
	if len(sum.NotTestable) > 0 {
		text += "; not testable now: " + strings.Join(sum.NotTestable, ", ")
	}
	return text
}

// canarySink keeps the guards' reports of a self-test's own canaries away
// from staff (a nightly alert per PC would teach them to ignore alerts) and
// from the patron's screen: the self-test's event says what the guards did.
// Only exact canary names the running self-test made are kept back.
type canarySink struct {
	protocol.EventSink
	canaries *selftest.Canaries
	log      *slog.Logger
}

func (c canarySink) Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error {
	switch kind {
	case protocol.EventDownloadBlocked, protocol.EventDownloadNoExec, protocol.EventExecBlocked, protocol.EventExecKilled:
		name := data[protocol.DataName]
		if name == "" && data[protocol.DataPath] != "" {
			name = filepath.Base(data[protocol.DataPath])
		}
		if c.canaries.Has(name) {
			c.log.Debug("Guard report of a self-test canary kept back", "kind", kind, "name", name)
			return nil
		}
	}
	return c.EventSink.Emit(kind, sev, data)
}
