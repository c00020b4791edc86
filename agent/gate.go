package agent

import (
	"context"
	"errors"
	"sync"

	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/wipe"
)

// logonGate is the one place this PC's patron logons are held and released.
// Two parts of the agent want them held: the seat (the session manager: while
// locked, dirty or wiping) and the wipe engine (from its first step until the
// home is verified, also when it resumes a wipe after a crash, before the
// manager runs). Each says what it wants through its own claim; the OS gate
// holds an account while either claims it and is released only when neither
// does, so one can never undo the other's hold.
//
// Until the seat has said what it holds (its first HoldLogons, when the
// manager runs), a release by the wipe engine is deferred: the seat may be
// locked, and a crash must not let a patron in between Resume and Run.
type logonGate struct {
	os wipe.LogonGate

	mu       sync.Mutex      // guards the fields below and serialises calls to os
	stated   bool            // the seat has stated its holds
	seat     map[string]bool // accounts the seat holds
	wiping   map[string]bool // accounts a wipe holds
	deferred map[string]bool // wipe releases waiting for the seat's statement
}

func newLogonGate(os wipe.LogonGate) *logonGate {
	return &logonGate{os: os, seat: map[string]bool{}, wiping: map[string]bool{}, deferred: map[string]bool{}}
}

// forWipe is the wipe engine's claim on the gate.
func (g *logonGate) forWipe() wipe.LogonGate { return wipeClaim{g} }

type wipeClaim struct{ g *logonGate }

var _ wipe.LogonGate = wipeClaim{}

// Hold holds user's logons for a wipe (always asks the OS: Hold is idempotent
// and the OS state is the truth after a crash).
func (c wipeClaim) Hold(ctx context.Context, user string) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wiping[user] = true
	delete(g.deferred, user)
	return g.os.Hold(ctx, user)
}

// Release ends the wipe's claim; the OS lets logons in only if the seat does
// not hold the account.
func (c wipeClaim) Release(ctx context.Context, user string) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.wiping, user)
	switch {
	case g.seat[user]:
		return nil
	case !g.stated:
		g.deferred[user] = true
		return nil
	}
	return g.os.Release(ctx, user)
}

// holdSeat sets the seat's claim on accounts and carries out releases a wipe
// deferred. Every failure is returned.
func (g *logonGate) holdSeat(ctx context.Context, accounts []string, hold bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stated = true
	var errs []error
	for _, a := range accounts {
		g.seat[a] = hold
		delete(g.deferred, a)
		switch {
		case hold:
			errs = append(errs, g.os.Hold(ctx, a))
		case !g.wiping[a]:
			errs = append(errs, g.os.Release(ctx, a))
		}
	}
	for a := range g.deferred {
		if !g.seat[a] && !g.wiping[a] {
			errs = append(errs, g.os.Release(ctx, a))
		}
		delete(g.deferred, a)
	}
	return errors.Join(errs...)
}

// gatedController is the OS's session controller with its HoldLogons taken
// over by the seat's claim on the logon gate.
type gatedController struct {
	session.Controller
	gate *logonGate
}

// Unwrap gives the session manager the OS controller, whose session helpers
// (lock screen, countdown, messages, notices) it runs.
func (c gatedController) Unwrap() session.Controller { return c.Controller }

// HoldLogons holds or releases every account, and reports every failure.
func (c gatedController) HoldLogons(ctx context.Context, accounts []string, hold bool) error {
	return c.gate.holdSeat(ctx, accounts, hold)
}

// controllerGate is a logon gate made of a session controller's HoldLogons
// (Linux, macOS: the controller holds logons itself).
type controllerGate struct{ c session.Controller }

func (g controllerGate) Hold(ctx context.Context, user string) error {
	return g.c.HoldLogons(ctx, []string{user}, true)
}

func (g controllerGate) Release(ctx context.Context, user string) error {
	return g.c.HoldLogons(ctx, []string{user}, false)
}
