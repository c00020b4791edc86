package session

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// screenController is the fake controller with a patron screen.
type screenController struct {
	*fakeController
	inputs chan overlay.Input
	smu    sync.Mutex
	screen map[string]shownScreen
	idle   time.Duration
}

type shownScreen struct {
	lock bool
	p    overlay.PatronScreen
}

func (c *screenController) ShowPatron(ctx context.Context, s Session, lock bool, p overlay.PatronScreen) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	c.screen[s.ID] = shownScreen{lock, p}
	return nil
}

func (c *screenController) PatronInputs() <-chan overlay.Input { return c.inputs }

func (c *screenController) PatronIdle(Session) (time.Duration, bool) {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.idle, c.idle > 0
}

func (c *screenController) shown(id string) shownScreen {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.screen[id]
}

// fakeMono is a monotonic clock the test moves.
type fakeMono struct {
	mu sync.Mutex
	d  time.Duration
}

func (m *fakeMono) now() time.Duration              { m.mu.Lock(); defer m.mu.Unlock(); return m.d }
func (m *fakeMono) add(d time.Duration)             { m.mu.Lock(); m.d += d; m.mu.Unlock() }
func (m *fakeMono) set(d time.Duration)             { m.mu.Lock(); m.d = d; m.mu.Unlock() }
func (m *fakeMono) String() string                  { return m.now().String() }
func (m *fakeMono) clockFunc() Mono                 { return m.now }
func (c *screenController) setIdle(d time.Duration) { c.smu.Lock(); c.idle = d; c.smu.Unlock() }

// fakeHub answers sign-ins from a script and records what it got.
type fakeHub struct {
	mu     sync.Mutex
	got    []protocol.SignIn
	answer func(protocol.SignIn) (protocol.SignInAnswer, error)
}

func (h *fakeHub) SignIn(ctx context.Context, s protocol.SignIn) (protocol.SignInAnswer, error) {
	h.mu.Lock()
	h.got = append(h.got, s)
	f := h.answer
	h.mu.Unlock()
	return f(s)
}

func (h *fakeHub) requests() []protocol.SignIn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]protocol.SignIn(nil), h.got...)
}

type signinRig struct {
	t      *testing.T
	m      *Manager
	w      *fakeWatcher
	wiper  *fakeWiper
	ctl    *screenController
	sink   *eventrec.Recorder
	clock  *fakeClock
	mono   *fakeMono
	hub    *fakeHub
	key    ed25519.PrivateKey
	logs   *logBuffer
	dir    string
	cancel context.CancelFunc
	done   chan error
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

var testGrantKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func newSigninRig(t *testing.T, dir string, cfg func(*Config), initial ...Session) *signinRig {
	t.Helper()
	r := &signinRig{t: t, w: newFakeWatcher(initial...), wiper: newFakeWiper(), sink: &eventrec.Recorder{},
		clock: &fakeClock{now: t0}, mono: &fakeMono{d: time.Hour}, hub: &fakeHub{}, key: testGrantKey, logs: &logBuffer{},
		dir: dir, done: make(chan error, 1)}
	r.ctl = &screenController{fakeController: newFakeController(), inputs: make(chan overlay.Input, 8), screen: map[string]shownScreen{}}
	c := testConfig()
	c.PatronSignIn = true
	if cfg != nil {
		cfg(&c)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(Options{Config: c, Log: log, Watcher: r.w, Wiper: r.wiper, Controller: r.ctl, Power: &fakePower{},
		Sink: r.sink, StateDir: dir, Clock: r.clock, Mono: r.mono.clockFunc()})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	m.SetHub(r.hub)
	if err := m.SetGrantKey(base64.StdEncoding.EncodeToString(r.key.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- m.Run(ctx) }()
	recv(t, r.w.runs, "watcher run")
	t.Cleanup(r.stop)
	return r
}

func (r *signinRig) stop() {
	r.cancel()
	select {
	case <-r.done:
		r.done <- nil
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
}

// grant makes a grant signed with the rig's key.
func (r *signinRig) grant(id string, seconds int64, warnings ...int) protocol.Grant {
	g := protocol.Grant{ID: id, Terminal: "t-1", Kind: protocol.PatronCard, Patron: "p-3f9a", Issued: t0,
		Ends: t0.Add(time.Duration(seconds) * time.Second), Seconds: seconds, EndsBy: "session", Warnings: warnings}
	protocol.SignGrant(&g, r.key)
	return g
}

func (r *signinRig) answerGrant(g protocol.Grant) {
	r.hub.mu.Lock()
	r.hub.answer = func(s protocol.SignIn) (protocol.SignInAnswer, error) {
		return protocol.SignInAnswer{ID: s.ID, Grant: &g}, nil
	}
	r.hub.mu.Unlock()
}

func (r *signinRig) type_(session, card, pin, guest string) {
	rep := overlay.Report{T: overlay.ReportSignIn}
	if card != "" {
		rep.Card, rep.PIN = overlay.Secret(card), overlay.Secret(pin)
	} else {
		rep.Guest = overlay.Secret(guest)
	}
	r.ctl.inputs <- overlay.Input{Session: session, Report: rep}
}

func (r *signinRig) waitScreen(id, what string, cond func(shownScreen) bool) shownScreen {
	r.t.Helper()
	var s shownScreen
	testbin.WaitFor(r.t, 10*time.Second, what, func() bool { s = r.ctl.shown(id); return cond(s) })
	return s
}

var x11 = Session{ID: "5", User: "patron1", UID: "1001", Type: "x11", Display: ":0", Since: t0}

func (r *signinRig) logon(s Session) {
	r.w.events <- Event{Kind: Logon, Session: s}
	r.waitScreen(s.ID, "the sign-in form", func(v shownScreen) bool { return v.lock && v.p.SignIn })
}

// signIn logs x11 on, types a card and PIN, and waits for the strip.
func (r *signinRig) signIn(g protocol.Grant) {
	r.t.Helper()
	r.answerGrant(g)
	r.logon(x11)
	r.type_(x11.ID, "21234000012345", "4321", "")
	r.waitScreen(x11.ID, "the session's strip", func(v shownScreen) bool { return !v.lock && v.p.EndsAt != 0 })
}

func TestSignInUnlocksAndTheGrantEndsTheSession(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	if st, _ := r.m.Current(); st != protocol.SessionFree {
		t.Fatalf("state %s before sign-in", st)
	}
	g := r.grant("g-1", 1800, 10, 5, 1)
	r.signIn(g)

	got := r.hub.requests()
	if len(got) != 1 || got[0].Card != "21234000012345" || got[0].PIN != "4321" || got[0].Guest != "" {
		t.Fatalf("hub got %+v", got)
	}
	ev := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionStarted)
	if ev.Data[protocol.DataGrant] != "g-1" || ev.Data[protocol.DataPatron] != "p-3f9a" || ev.Data[protocol.DataKind] != "card" || ev.Data[protocol.DataSession] != "5" {
		t.Errorf("session.started %v", ev.Data)
	}
	testbin.WaitFor(t, 5*time.Second, "in use", func() bool { st, _ := r.m.Current(); return st == protocol.SessionInUse })
	if p := r.m.Patron(); p == nil || p.Grant != "g-1" || !p.Ends.Equal(t0.Add(1800*time.Second)) {
		t.Errorf("Patron() = %+v", p)
	}
	// One second short of the end: still running.
	r.mono.add(1799 * time.Second)
	r.clock.Advance(1799 * time.Second)
	time.Sleep(2 * tickEvery) // let ticks pass: the absence of an end is the point
	select {
	case id := <-r.ctl.terminated:
		t.Fatalf("session %s ended before the grant's end", id)
	default:
	}
	r.mono.add(2 * time.Second)
	if id := recv(t, r.ctl.terminated, "the end at the grant's end"); id != "5" {
		t.Fatalf("terminated %s", id)
	}
	r.w.events <- Event{Kind: Logoff, Session: x11}
	recv(t, r.wiper.called, "the wipe")
	ended := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionEnded)
	if ended.Data[protocol.DataEndReason] != protocol.EndTimeUp || ended.Data[protocol.DataGrant] != "g-1" || ended.Data[protocol.DataUsed] != "1800" {
		t.Errorf("session.ended %v", ended.Data)
	}
	r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionWiped)
	if r.m.Patron() != nil {
		t.Error("Patron() after the end")
	}
	if _, err := os.Stat(filepath.Join(r.dir, grantFileName)); !os.IsNotExist(err) {
		t.Errorf("saved grant still there after the end: %v", err)
	}
	// The next patron's form says the wipe was verified, and when (once the
	// seat is free: while it is still wiping, a logon is refused).
	testbin.WaitFor(t, 5*time.Second, "the seat free", func() bool { st, _ := r.m.Current(); return st == protocol.SessionFree })
	next := Session{ID: "6", User: "patron1", UID: "1001", Type: "x11", Display: ":0", Since: t0}
	r.w.events <- Event{Kind: Logon, Session: next}
	v := r.waitScreen("6", "the next form with the wipe's time", func(v shownScreen) bool { return v.p.SignIn && v.p.CleanAt != 0 })
	if want := r.clock.Now().UnixMilli(); v.p.CleanAt != want {
		t.Errorf("CleanAt %d, want %d", v.p.CleanAt, want)
	}
	if n := r.sink.Count(protocol.EventSessionStarted); n != 1 {
		t.Errorf("%d session.started events; the unsigned session must not count", n)
	}

	// The PIN and the card are nowhere: not in the log, not in an event, not
	// in the state directory.
	var all strings.Builder
	all.WriteString(r.logs.String())
	for _, e := range r.sink.All() {
		fmt.Fprintf(&all, "%s %v\n", e.Kind, e.Data)
	}
	files, _ := os.ReadDir(r.dir)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(r.dir, f.Name()))
		all.Write(b)
	}
	for _, secret := range []string{"4321", "21234000012345"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("%q found in the logs, events or state files", secret)
		}
	}
}

func TestSignInWallClockChangesAddNothing(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	r.signIn(r.grant("g-2", 600))
	first := r.ctl.shown(x11.ID).p.EndsAt
	// The PC's clock goes back three hours: the strip's end follows it, the
	// session's end does not move.
	r.clock.Advance(-3 * time.Hour)
	v := r.waitScreen(x11.ID, "the strip corrected for the clock", func(v shownScreen) bool { return v.p.EndsAt != first })
	if want := r.clock.Now().Add(600 * time.Second).UnixMilli(); abs(v.p.EndsAt-want) > 1000 {
		t.Errorf("strip end %d, want about %d", v.p.EndsAt, want)
	}
	r.mono.add(300 * time.Second)
	r.clock.Advance(5 * time.Hour) // and forward again
	time.Sleep(2 * tickEvery)
	select {
	case <-r.ctl.terminated:
		t.Fatal("a clock moved forward ended the session")
	default:
	}
	r.mono.add(301 * time.Second)
	recv(t, r.ctl.terminated, "the end after 600 s of monotonic time")
}

func TestWarningAcknowledgedDoesNotEndTheSession(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	r.signIn(r.grant("g-3", 900, 10, 5, 1))
	r.mono.add(600 * time.Second) // 5 minutes left: the 10 and 5 minute warnings have both passed
	v := r.waitScreen(x11.ID, "a warning", func(v shownScreen) bool { return v.p.WarnID != 0 })
	if v.p.Warn != 5 {
		t.Errorf("warning says %d minutes, want 5", v.p.Warn)
	}
	r.ctl.inputs <- overlay.Input{Session: x11.ID, Report: overlay.Report{T: overlay.ReportWarnAck, WarnID: v.p.WarnID}}
	ev := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionWarned)
	if ev.Data[protocol.DataGrant] != "g-3" || ev.Data[protocol.DataMinutes] != "5" {
		t.Errorf("session.warned %v", ev.Data)
	}
	r.waitScreen(x11.ID, "the warning gone", func(v shownScreen) bool { return v.p.WarnID == 0 && v.p.EndsAt != 0 })
	time.Sleep(2 * tickEvery)
	select {
	case <-r.ctl.terminated:
		t.Fatal("acknowledging a warning ended the session")
	default:
	}
	r.mono.add(250 * time.Second) // 50 s left: the 1-minute warning
	v = r.waitScreen(x11.ID, "the 1-minute warning", func(v shownScreen) bool { return v.p.WarnID != 0 })
	if v.p.Warn != 1 {
		t.Errorf("warning says %d minutes, want 1", v.p.Warn)
	}
	// Not acknowledged: the session still ends at its end, not before.
	r.mono.add(51 * time.Second)
	recv(t, r.ctl.terminated, "the end")
	if n := r.sink.Count(protocol.EventSessionWarned); n != 1 {
		t.Errorf("%d session.warned events, want 1 (one acknowledged)", n)
	}
}

func TestSignInRefusedShowsWhy(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	r.hub.answer = func(s protocol.SignIn) (protocol.SignInAnswer, error) {
		return protocol.SignInAnswer{ID: s.ID, Refusal: protocol.RefuseFines}, nil
	}
	r.logon(x11)
	before := r.ctl.shown(x11.ID).p.Form
	r.type_(x11.ID, "21234000012345", "0000", "")
	v := r.waitScreen(x11.ID, "the refusal", func(v shownScreen) bool { return v.p.Refusal != "" })
	if v.p.Refusal != protocol.RefuseFines || !v.lock || !v.p.SignIn || v.p.Busy || v.p.Form == before {
		t.Errorf("after a refusal: %+v", v)
	}
	if r.sink.Has(protocol.EventSessionStarted) || r.m.Patron() != nil {
		t.Error("a refused sign-in started a session")
	}
	// A guest pass then works.
	r.answerGrant(r.grant("g-4", 60))
	r.type_(x11.ID, "", "", "GUEST-7H3K")
	r.waitScreen(x11.ID, "the strip", func(v shownScreen) bool { return !v.lock && v.p.EndsAt != 0 })
	if got := r.hub.requests(); len(got) != 2 || got[1].Guest != "GUEST-7H3K" || got[1].Card != "" {
		t.Errorf("hub got %+v", got)
	}
}

func TestSignInWithABadSignatureIsRefused(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	g := r.grant("g-5", 600)
	g.Seconds = 6000 // changed after signing
	r.answerGrant(g)
	r.logon(x11)
	r.type_(x11.ID, "21234000012345", "4321", "")
	v := r.waitScreen(x11.ID, "the refusal", func(v shownScreen) bool { return v.p.Refusal != "" })
	if v.p.Refusal != protocol.RefuseError || !v.lock {
		t.Errorf("forged grant: %+v", v)
	}
}

func TestSignInHubDown(t *testing.T) {
	t.Run("stay locked", func(t *testing.T) {
		r := newSigninRig(t, winetest.TempDir(t), nil)
		r.hub.answer = func(protocol.SignIn) (protocol.SignInAnswer, error) { return protocol.SignInAnswer{}, ErrHubDown }
		r.logon(x11)
		r.type_(x11.ID, "21234000012345", "4321", "")
		v := r.waitScreen(x11.ID, "the refusal", func(v shownScreen) bool { return v.p.Refusal != "" })
		if v.p.Refusal != protocol.RefuseHubDown || !v.lock {
			t.Errorf("hub down: %+v", v)
		}
	})
	t.Run("offline session", func(t *testing.T) {
		r := newSigninRig(t, winetest.TempDir(t), func(c *Config) { c.OfflineMinutes = 20 })
		r.hub.answer = func(protocol.SignIn) (protocol.SignInAnswer, error) { return protocol.SignInAnswer{}, ErrHubDown }
		r.logon(x11)
		r.type_(x11.ID, "21234000012345", "4321", "")
		r.waitScreen(x11.ID, "the offline strip", func(v shownScreen) bool { return !v.lock && v.p.EndsAt != 0 })
		ev := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionStarted)
		if !strings.HasPrefix(ev.Data[protocol.DataGrant], "offline-") || ev.Data[protocol.DataKind] != "guest" {
			t.Errorf("offline session.started %v", ev.Data)
		}
		r.mono.add(20*time.Minute + time.Second)
		recv(t, r.ctl.terminated, "the offline session's end")
		r.w.events <- Event{Kind: Logoff, Session: x11}
		if e := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionEnded); e.Data[protocol.DataEndReason] != protocol.EndOffline {
			t.Errorf("session.ended %v", e.Data)
		}
	})
}

func TestIdleEndsTheSessionAfterAWarning(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	g := r.grant("g-6", 3600)
	g.IdleEnd, g.IdleWarn = 600, 60
	protocol.SignGrant(&g, r.key)
	r.signIn(g)
	r.ctl.setIdle(550 * time.Second)
	v := r.waitScreen(x11.ID, "the idle warning", func(v shownScreen) bool { return v.p.IdleLeft != 0 })
	if v.p.IdleLeft != 50 {
		t.Errorf("idle warning %d s, want 50", v.p.IdleLeft)
	}
	r.ctl.setIdle(2 * time.Second) // the patron moved the mouse
	r.waitScreen(x11.ID, "the idle warning gone", func(v shownScreen) bool { return v.p.IdleLeft == 0 })
	r.ctl.setIdle(601 * time.Second)
	recv(t, r.ctl.terminated, "the idle end")
	r.w.events <- Event{Kind: Logoff, Session: x11}
	if e := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionEnded); e.Data[protocol.DataEndReason] != protocol.EndIdle {
		t.Errorf("session.ended %v", e.Data)
	}
}

func TestGrantEndingAtClosingSaysSo(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	g := r.grant("g-c", 120)
	g.EndsBy = "closing"
	protocol.SignGrant(&g, r.key)
	r.signIn(g)
	r.mono.add(121 * time.Second)
	recv(t, r.ctl.terminated, "the end at closing")
	r.w.events <- Event{Kind: Logoff, Session: x11}
	if e := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionEnded); e.Data[protocol.DataEndReason] != protocol.EndClosing {
		t.Errorf("session.ended %v", e.Data)
	}
}

func TestEndMySessionAndStaffEnd(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	r.signIn(r.grant("g-7", 3600))
	r.mono.add(90 * time.Second)
	r.ctl.inputs <- overlay.Input{Session: x11.ID, Report: overlay.Report{T: overlay.ReportEndSession}}
	recv(t, r.ctl.terminated, "the patron's end")
	r.w.events <- Event{Kind: Logoff, Session: x11}
	e := r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionEnded)
	if e.Data[protocol.DataEndReason] != protocol.EndPatron || e.Data[protocol.DataUsed] != "90" {
		t.Errorf("session.ended %v", e.Data)
	}
	recv(t, r.wiper.called, "the wipe")
	r.sink.WaitKind(t, 5*time.Second, protocol.EventSessionWiped)
	testbin.WaitFor(t, 5*time.Second, "the seat free", func() bool { st, _ := r.m.Current(); return st == protocol.SessionFree })

	// Staff end the next patron's session from the console.
	next := x11
	next.ID = "8"
	r.answerGrant(r.grant("g-7b", 3600))
	r.logon(next)
	r.type_(next.ID, "21234000012345", "4321", "")
	r.waitScreen(next.ID, "the strip", func(v shownScreen) bool { return !v.lock && v.p.EndsAt != 0 })
	if _, err := r.m.EndSession(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	recv(t, r.ctl.terminated, "the staff end")
	r.w.events <- Event{Kind: Logoff, Session: next}
	testbin.WaitFor(t, 5*time.Second, "the second session.ended", func() bool { return r.sink.Count(protocol.EventSessionEnded) == 2 })
	if e := r.sink.OfKind(protocol.EventSessionEnded)[1]; e.Data[protocol.DataEndReason] != protocol.EndStaff || e.Data[protocol.DataGrant] != "g-7b" {
		t.Errorf("staff end: session.ended %v", e.Data)
	}
}

func TestGrantUpdateReplacesTheEnd(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	r.signIn(r.grant("g-8", 600))
	ctx := context.Background()
	// Another grant's update, and a forged one, change nothing.
	if err := r.m.UpdateGrant(ctx, r.grant("g-other", 60)); err != nil {
		t.Fatal(err)
	}
	forged := r.grant("g-8", 600)
	forged.Seconds = 7200
	if err := r.m.UpdateGrant(ctx, forged); err == nil {
		t.Error("a forged update was accepted")
	}
	if err := r.m.UpdateGrant(ctx, r.grant("g-8", 1200)); err != nil {
		t.Fatal(err)
	}
	r.mono.add(601 * time.Second)
	time.Sleep(2 * tickEvery)
	select {
	case <-r.ctl.terminated:
		t.Fatal("ended at the old end")
	default:
	}
	r.mono.add(600 * time.Second)
	recv(t, r.ctl.terminated, "the end at the new end")
}

func TestRestartResumesTheSavedGrant(t *testing.T) {
	dir := winetest.TempDir(t)
	r := newSigninRig(t, dir, nil)
	r.signIn(r.grant("g-9", 600))
	r.mono.add(100 * time.Second)
	testbin.WaitFor(t, 5*time.Second, "a checkpoint", func() bool {
		sg, err := loadGrant(filepath.Join(dir, grantFileName))
		return err == nil && sg.Used >= 100
	})
	r.stop()

	// The agent starts again with the session still open: it resumes with
	// the time used (and one checkpoint more), never more than the grant.
	r2 := newSigninRig(t, dir, nil, x11)
	testbin.WaitFor(t, 5*time.Second, "the session resumed", func() bool { return r2.m.Patron() != nil })
	if st, _ := r2.m.Current(); st != protocol.SessionInUse {
		t.Errorf("state %s after resuming", st)
	}
	r2.waitScreen(x11.ID, "the strip again", func(v shownScreen) bool { return !v.lock && v.p.EndsAt != 0 })
	r2.mono.add(494 * time.Second) // 100 + 5 + 494 = 599
	time.Sleep(2 * tickEvery)
	select {
	case <-r2.ctl.terminated:
		t.Fatal("ended early after the restart")
	default:
	}
	r2.mono.add(2 * time.Second)
	recv(t, r2.ctl.terminated, "the end")
	r2.w.events <- Event{Kind: Logoff, Session: x11}
	if e := r2.sink.WaitKind(t, 5*time.Second, protocol.EventSessionEnded); e.Data[protocol.DataUsed] != "600" || e.Data[protocol.DataEndReason] != protocol.EndTimeUp {
		t.Errorf("session.ended %v", e.Data)
	}
	if r2.sink.Has(protocol.EventSessionStarted) {
		t.Error("a resumed session was reported started again")
	}
}

func TestRestartWithTheSessionGoneReportsItEnded(t *testing.T) {
	dir := winetest.TempDir(t)
	r := newSigninRig(t, dir, nil)
	r.signIn(r.grant("g-10", 600))
	r.mono.add(30 * time.Second)
	testbin.WaitFor(t, 5*time.Second, "a checkpoint", func() bool {
		sg, err := loadGrant(filepath.Join(dir, grantFileName))
		return err == nil && sg.Used >= 30
	})
	r.stop()
	r2 := newSigninRig(t, dir, nil) // the PC rebooted: no session open
	e := r2.sink.WaitKind(t, 5*time.Second, protocol.EventSessionEnded)
	used, _ := strconv.Atoi(e.Data[protocol.DataUsed])
	if e.Data[protocol.DataEndReason] != protocol.EndRestart || e.Data[protocol.DataGrant] != "g-10" || used < 30 {
		t.Errorf("session.ended %v", e.Data)
	}
	if _, err := os.Stat(filepath.Join(dir, grantFileName)); !os.IsNotExist(err) {
		t.Error("saved grant kept")
	}
}

func TestStaffLockHidesTheFormAndUnlockBringsItBack(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	r.logon(x11)
	ctx := context.Background()
	if _, err := r.m.Lock(ctx, nil); err != nil {
		t.Fatal(err)
	}
	r.waitScreen(x11.ID, "the staff lock without the form", func(v shownScreen) bool { return v.lock && !v.p.SignIn })
	if _, err := r.m.Unlock(ctx, nil); err != nil {
		t.Fatal(err)
	}
	r.waitScreen(x11.ID, "the form again", func(v shownScreen) bool { return v.lock && v.p.SignIn })
	r.ctl.mu.Lock()
	unlocked := append([]string(nil), r.ctl.unlocked...)
	r.ctl.mu.Unlock()
	if len(unlocked) != 0 {
		t.Errorf("an unsigned session was unlocked: %v", unlocked)
	}
}

// TestSignInWithoutAScreenEndsTheSession: where the OS has no session helper
// (macOS) a patron session cannot be signed in to, so it is not left open.
func TestSignInWithoutAScreenEndsTheSession(t *testing.T) {
	ctl := newFakeController()
	w := newFakeWatcher()
	cfg := testConfig()
	cfg.PatronSignIn = true
	m, err := New(Options{Config: cfg, Log: testLogger(t), Watcher: w, Wiper: newFakeWiper(), Controller: ctl,
		Power: &fakePower{}, Sink: &eventrec.Recorder{}, StateDir: winetest.TempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	recv(t, w.runs, "watcher run")
	w.events <- Event{Kind: Logon, Session: x11}
	if id := recv(t, ctl.terminated, "the session ended"); id != x11.ID {
		t.Errorf("terminated %s", id)
	}
	if st, _ := m.Current(); st == protocol.SessionInUse {
		t.Error("a session nobody signed in to counts as in use")
	}
}

// TestSignInFormStatesOnlyAVerifiedWipe: the next patron's form says when the
// previous session was erased and checked only when that wipe came back
// clean. A dirty wipe after a clean one takes the earlier time back (the form
// must not vouch for a session it did not check); staff's clean wipe-now
// gives the form its own, later time.
func TestSignInFormStatesOnlyAVerifiedWipe(t *testing.T) {
	r := newSigninRig(t, winetest.TempDir(t), nil)
	r.wiper.results = []error{nil, errors.New("verify: 2 leftovers in /tmp"), nil}
	end := func(s Session) {
		t.Helper()
		r.w.events <- Event{Kind: Logoff, Session: s}
		recv(t, r.wiper.called, "the wipe")
	}
	r.signIn(r.grant("g-1", 600))
	r.mono.add(601 * time.Second)
	recv(t, r.ctl.terminated, "the end")
	r.clock.Advance(time.Minute)
	first := r.clock.Now().UnixMilli()
	end(x11)
	testbin.WaitFor(t, 5*time.Second, "the seat free", func() bool { st, _ := r.m.Current(); return st == protocol.SessionFree })
	s2 := Session{ID: "6", User: "patron1", UID: "1001", Type: "x11", Display: ":0", Since: t0}
	r.w.events <- Event{Kind: Logon, Session: s2}
	if v := r.waitScreen("6", "the form with the clean wipe", func(v shownScreen) bool { return v.p.SignIn && v.p.CleanAt != 0 }); v.p.CleanAt != first {
		t.Fatalf("CleanAt %d, want %d", v.p.CleanAt, first)
	}

	// Session 6 is signed in and ends; its wipe leaves files behind.
	r.answerGrant(r.grant("g-2", 600))
	r.type_("6", "21234000012345", "4321", "")
	r.waitScreen("6", "the strip", func(v shownScreen) bool { return !v.lock && v.p.EndsAt != 0 })
	r.mono.add(601 * time.Second)
	recv(t, r.ctl.terminated, "the second end")
	r.clock.Advance(time.Minute)
	end(s2)
	testbin.WaitFor(t, 5*time.Second, "the seat dirty", func() bool { st, _ := r.m.Current(); return st == protocol.SessionDirty })
	// What the form reads (desk.refresh): no clean wipe to state any more.
	r.m.mu.Lock()
	cleanAt := r.m.ls.CleanAt
	r.m.mu.Unlock()
	if !cleanAt.IsZero() {
		t.Fatalf("after a dirty wipe the form would still say erased and checked at %s", cleanAt)
	}

	// Staff wipe again, clean: the form states that wipe's time.
	r.clock.Advance(time.Minute)
	if _, err := r.m.WipeNow(context.Background(), map[string]string{}); err != nil {
		t.Fatalf("WipeNow: %v", err)
	}
	second := r.clock.Now().UnixMilli()
	testbin.WaitFor(t, 5*time.Second, "the seat free again", func() bool { st, _ := r.m.Current(); return st == protocol.SessionFree })
	s3 := Session{ID: "7", User: "patron1", UID: "1001", Type: "x11", Display: ":0", Since: t0}
	r.w.events <- Event{Kind: Logon, Session: s3}
	if v := r.waitScreen("7", "the form after wipe-now", func(v shownScreen) bool { return v.p.SignIn && v.p.CleanAt != 0 }); v.p.CleanAt != second {
		t.Fatalf("CleanAt %d after a dirty wipe and a clean wipe-now, want %d (not the older %d)", v.p.CleanAt, second, first)
	}
}
