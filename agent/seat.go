package agent

// The patron seat: the session manager (watcher, lock, the session commands),
// the wipe engine it calls at each logoff, and the one logon gate both hold
// patron logons through.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/agent/wipe"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

type seat struct {
	*session.Manager
	engine *wipe.Engine // nil where wiping is not implemented (macOS)
	// gate is the one holder of patron logons; engineGate is the engine's
	// claim on it, exactly what the engine was built with.
	gate       *logonGate
	engineGate wipe.LogonGate
	status     *status.Collector
}

// newSeat builds the seat. osGate is the OS's logon gate; nil takes this
// platform's (seatGate in seat_*.go), tests pass a recording one.
func newSeat(cfg config.Config, sink protocol.EventSink, st *status.Collector, osGate wipe.LogonGate, log *slog.Logger) (*seat, error) {
	// The engine's own guard applies the seat's patron policy too (defence in
	// depth: the manager decides every wipe first).
	wcfg := cfg.Wipe
	wcfg.PatronUsers, wcfg.PatronGroup, wcfg.StaffUsers = cfg.Session.PatronUsers, cfg.Session.PatronGroup, cfg.Session.StaffUsers
	if wcfg.PatronGroup == "" {
		wcfg.PatronGroup = wipe.NoPatronGroup
	}
	ctl := session.NewController(log)
	if osGate == nil {
		osGate = seatGate(ctl, wcfg)
	}
	s := &seat{gate: newLogonGate(osGate), status: st}
	s.engineGate = s.gate.forWipe()

	eng, err := wipe.New(wcfg, log.With("component", "wipe"), sink, wipe.WithGate(s.engineGate))
	if err != nil && !errors.Is(err, wipe.ErrNotImplemented) {
		return nil, fmt.Errorf("wipe engine: %w", err)
	}
	var wiper session.Wiper = session.WiperFunc(func(context.Context, session.User) error {
		return fmt.Errorf("wipe: %w", wipe.ErrNotImplemented)
	})
	if eng != nil {
		s.engine = eng
		// Finish what a crash interrupted before the watcher can let anyone
		// in. The gate keeps logons held until the manager has said whether
		// the seat holds them (its first HoldLogons, at Run).
		if err := eng.Resume(context.Background()); err != nil {
			log.Error("Unfinished wipe could not be completed", "err", err)
		}
		wiper = session.WiperFunc(s.wipe)
	}
	seatLog := log.With("component", "session")
	s.Manager, err = session.New(session.Options{
		Config:     cfg.Session,
		Log:        seatLog,
		Watcher:    session.NewWatcher(cfg.Session, seatLog),
		Wiper:      wiper,
		Controller: gatedController{Controller: ctl, gate: s.gate},
		Power:      session.NewPower(),
		Sink:       sink,
		StateDir:   cfg.StateDir,
	})
	if err != nil {
		return nil, fmt.Errorf("session manager: %w", err)
	}
	st.SetSessionSource(seatSource{s.Manager})
	return s, nil
}

// wipe is the manager's Wiper: the engine's wipe, clean only when verified.
func (s *seat) wipe(ctx context.Context, u session.User) error {
	rep, err := s.engine.Wipe(ctx, wipe.Scope{User: u.Name})
	if err != nil {
		return err
	}
	if !rep.Verified {
		return fmt.Errorf("wipe left %d leftovers (first: %s)", len(rep.Leftovers), firstLeftover(rep))
	}
	return nil
}

// mirrorStatus copies the seat's lock and last wipe into the status the hub
// sees, at each change of the seat. Each setter nudges the link, which sends
// the status at once when the seat state (read through seatSource) changed.
func (s *seat) mirrorStatus(ctx context.Context) error {
	for {
		s.status.SetLocked(s.Locked())
		s.status.SetLastWipe(s.LastWipe())
		s.status.SetPatron(s.Patron())
		select {
		case <-ctx.Done():
			return nil
		case <-s.Changes():
		}
	}
}

// seatSource adapts the session manager to the status collector.
type seatSource struct{ m *session.Manager }

func (s seatSource) Session() (protocol.SessionState, time.Time) { return s.m.Current() }

func firstLeftover(r wipe.Report) string {
	if len(r.Leftovers) == 0 {
		return "none listed"
	}
	return r.Leftovers[0].Path + ": " + r.Leftovers[0].Reason
}
