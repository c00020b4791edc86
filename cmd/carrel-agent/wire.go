package main

// The components every agent runs beside its link to the hub, wired from the
// configuration: the download guard, the exec guard, the browser policies and the
// seat (session watcher, wipe engine and the session commands). A section named in
// the config's disable list is not wired.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/agent"
	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/agent/execguard"
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/wipe"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func init() {
	wiring = append(wiring, wireDownloads, wireExecGuard, wireBrowserPolicy, wireSeat)
}

func wireDownloads(a *agent.Agent, cfg config.Config, log *slog.Logger) error {
	if !cfg.Enabled("downloads") {
		return nil
	}
	g, err := downloads.New(cfg.Downloads, classify.New(cfg.Classify), a.Events(), log.With("component", "downloads"))
	if err != nil {
		return fmt.Errorf("download guard: %w", err)
	}
	if err := a.Handle(protocol.ActionReleaseQuarantine, g.ReleaseHandler()); err != nil {
		return err
	}
	return a.Add("downloads", g.Run)
}

func wireExecGuard(a *agent.Agent, cfg config.Config, log *slog.Logger) error {
	if !cfg.Enabled("exec_guard") {
		return nil
	}
	g, err := execguard.New(cfg.ExecGuard, a.Events(), log.With("component", "exec_guard"))
	if err != nil {
		return fmt.Errorf("exec guard: %w", err)
	}
	return a.Add("exec_guard", g.Run)
}

func wireBrowserPolicy(a *agent.Agent, cfg config.Config, log *slog.Logger) error {
	if !cfg.Enabled("browser_policy") {
		return nil
	}
	log = log.With("component", "browser_policy")
	m := browserpolicy.New(cfg.BrowserPolicy, "", log, a.Events())
	if _, err := m.Apply(); err != nil {
		// Not fatal: the watch retries, and the failure is an event for staff.
		log.Error("Browser policies not applied", "err", err)
	}
	a.Status().SetPolicyVersion(m.PolicyVersion())
	err := a.Handle(protocol.ActionApplyPolicy, func(context.Context, map[string]string) (string, error) {
		changed, err := m.Apply()
		if err != nil {
			return "", err
		}
		if len(changed) == 0 {
			return "policies already in force", nil
		}
		return "re-applied: " + strings.Join(changed, ", "), nil
	})
	if err != nil {
		return err
	}
	return a.Add("browser_policy", func(ctx context.Context) error {
		err := m.Watch(ctx)
		if errors.Is(err, browserpolicy.ErrNotImplemented) {
			log.Warn("Browser policies are not kept up on this OS")
			return nil
		}
		return err
	})
}

// wireSeat runs the session manager with the wipe engine as its wiper. The
// manager alone holds and releases patron logons (the lock and the hold during a
// wipe both live in the account's expiry, which survives a crash), so the engine
// gets a gate that does nothing: two owners of one hold would undo each other.
func wireSeat(a *agent.Agent, cfg config.Config, log *slog.Logger) error {
	if !cfg.Enabled("session") {
		return nil
	}
	// The engine's own guard applies the seat's patron policy too (defence in
	// depth: the manager decides every wipe first).
	wcfg := cfg.Wipe
	wcfg.PatronUsers, wcfg.PatronGroup, wcfg.StaffUsers = cfg.Session.PatronUsers, cfg.Session.PatronGroup, cfg.Session.StaffUsers
	if wcfg.PatronGroup == "" {
		wcfg.PatronGroup = wipe.NoPatronGroup
	}
	eng, err := wipe.New(wcfg, log.With("component", "wipe"), a.Events(), wipe.WithGate(heldBySession{}))
	if err != nil && !errors.Is(err, wipe.ErrNotImplemented) {
		return fmt.Errorf("wipe engine: %w", err)
	}
	var wiper session.Wiper = session.WiperFunc(func(context.Context, session.User) error {
		return fmt.Errorf("wipe: %w", wipe.ErrNotImplemented)
	})
	if eng != nil {
		// Finish what a crash interrupted before the watcher can let anyone in.
		if err := eng.Resume(context.Background()); err != nil {
			log.Error("Unfinished wipe could not be completed", "err", err)
		}
		wiper = session.WiperFunc(func(ctx context.Context, u session.User) error {
			rep, err := eng.Wipe(ctx, wipe.Scope{User: u.Name})
			if err != nil {
				return err
			}
			if !rep.Verified {
				return fmt.Errorf("wipe left %d leftovers (first: %s)", len(rep.Leftovers), firstLeftover(rep))
			}
			return nil
		})
		if err := a.Add("wipe_purge", eng.PurgeLoop); err != nil {
			return err
		}
	}
	m, err := session.New(session.Options{
		Config:     cfg.Session,
		Log:        log.With("component", "session"),
		Watcher:    session.NewWatcher(cfg.Session, log.With("component", "session")),
		Wiper:      wiper,
		Controller: seatController(session.NewController(log), wcfg),
		Power:      session.NewPower(),
		Sink:       a.Events(),
		StateDir:   cfg.StateDir,
	})
	if err != nil {
		return fmt.Errorf("session manager: %w", err)
	}
	for action, h := range m.Handlers() {
		if err := a.Handle(action, h); err != nil {
			return err
		}
	}
	a.Status().SetSessionSource(seatSource{m})
	a.OnWelcome(func(w protocol.Welcome) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.ApplyLock(ctx, w.Locked); err != nil {
			log.Error("Hub's lock state not applied", "locked", w.Locked, "err", err)
		}
	})
	if err := a.Add("session", m.Run); err != nil {
		return err
	}
	// Mirror the seat's lock, last wipe and state into the status the hub sees.
	return a.Add("seat_status", func(ctx context.Context) error {
		for {
			// Each setter nudges the link, which sends the status at once
			// when the seat state (read through seatSource) changed.
			a.Status().SetLocked(m.Locked())
			a.Status().SetLastWipe(m.LastWipe())
			select {
			case <-ctx.Done():
				return nil
			case <-m.Changes():
			}
		}
	})
}

// seatSource adapts the session manager to the status collector.
type seatSource struct{ m *session.Manager }

func (s seatSource) Session() (protocol.SessionState, time.Time) { return s.m.Current() }

// heldBySession is the wipe engine's logon gate inside the service: the session
// manager has already held the account before it asks for a wipe.
type heldBySession struct{}

func (heldBySession) Hold(context.Context, string) error    { return nil }
func (heldBySession) Release(context.Context, string) error { return nil }

func firstLeftover(r wipe.Report) string {
	if len(r.Leftovers) == 0 {
		return "none listed"
	}
	return r.Leftovers[0].Path + ": " + r.Leftovers[0].Reason
}
