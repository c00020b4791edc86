package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type rig struct {
	t      *testing.T
	m      *Manager
	w      *fakeWatcher
	wiper  *fakeWiper
	ctl    *fakeController
	power  *fakePower
	sink   *eventrec.Recorder
	clock  *fakeClock
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.PatronUsers = []string{"patron1", "patron2"}
	cfg.StaffUsers = []string{"staff1"}
	return cfg
}

// newRig starts a Manager over dir with fakes and waits until the watcher has
// reported its initial list.
func newRig(t *testing.T, dir string, wiper *fakeWiper, initial ...Session) *rig {
	t.Helper()
	r := &rig{t: t, w: newFakeWatcher(initial...), wiper: wiper, ctl: newFakeController(),
		power: &fakePower{}, sink: &eventrec.Recorder{}, clock: &fakeClock{now: t0}, dir: dir, done: make(chan error, 1)}
	m, err := New(Options{Config: testConfig(), Log: testLogger(t), Watcher: r.w, Wiper: wiper,
		Controller: r.ctl, Power: r.power, Sink: r.sink, StateDir: dir, Clock: r.clock})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- m.Run(ctx) }()
	select {
	case <-r.w.runs:
	case <-time.After(10 * time.Second):
		t.Fatal("watcher never ran")
	}
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run returned %v", err)
		}
		r.done <- nil // later stops return at once
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return after cancel")
	}
}

func (r *rig) send(ev Event) {
	r.t.Helper()
	select {
	case r.w.events <- ev:
	case <-time.After(10 * time.Second):
		r.t.Fatal("watcher callback blocked")
	}
}

func (r *rig) waitState(want protocol.SessionState) time.Time {
	r.t.Helper()
	var since time.Time
	testbin.WaitFor(r.t, 10*time.Second, "state "+string(want), func() bool {
		var st protocol.SessionState
		st, since = r.m.Current()
		return st == want
	})
	return since
}

func (r *rig) waitHold(want bool) {
	r.t.Helper()
	testbin.WaitFor(r.t, 10*time.Second, "hold logons "+map[bool]string{true: "on", false: "off"}[want], func() bool {
		h, ok := r.ctl.lastHold()
		return ok && h == want
	})
}

func patron(id, name string, since time.Time) Session {
	return Session{ID: id, User: name, UID: "1001", Since: since, TTY: "pts/5"}
}

func TestBootWithoutSessionIsFree(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	if since := r.waitState(protocol.SessionFree); !since.Equal(t0) {
		t.Fatalf("since = %v, want %v", since, t0)
	}
	r.waitHold(false) // a hold a crash left behind is released
	if len(r.sink.Kinds()) != 0 {
		t.Fatalf("events at boot: %v", r.sink.Kinds())
	}
}

func TestLogonLogoffCleanWipe(t *testing.T) {
	wiper := newFakeWiper()
	wiper.block = make(chan struct{})
	r := newRig(t, winetest.TempDir(t), wiper)
	start := t0.Add(-time.Minute)

	r.send(Event{Kind: Logon, Session: patron("3", "patron1", start)})
	if since := r.waitState(protocol.SessionInUse); !since.Equal(start) {
		t.Fatalf("in-use since %v, want %v", since, start)
	}
	r.send(Event{Kind: Logoff, Session: Session{ID: "3"}})
	if u := recv(t, wiper.called, "wipe"); u.Name != "patron1" || u.UID != "1001" {
		t.Fatalf("wiped %+v", u)
	}
	r.waitState(protocol.SessionWiping)
	r.waitHold(true)
	r.clock.Advance(412 * time.Millisecond)
	close(wiper.block)
	r.waitState(protocol.SessionFree)
	r.waitHold(false)
	if got := r.m.LastWipe(); got != "clean 412ms" {
		t.Fatalf("LastWipe = %q", got)
	}
	want := []protocol.EventKind{protocol.EventSessionStarted, protocol.EventSessionEnded, protocol.EventSessionWiped}
	if got := r.sink.Kinds(); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	// Privacy: no event names the patron.
	for _, e := range r.sink.All() {
		for k, v := range e.Data {
			if strings.Contains(v, "patron1") {
				t.Fatalf("event %s data %s=%q names the patron", e.Kind, k, v)
			}
		}
	}
	st, err := NewLockStore(r.dir).Load()
	if err != nil || len(st.Pending) != 0 || st.Dirty != "" {
		t.Fatalf("state after clean wipe = %+v, %v", st, err)
	}
}

func TestDirtyWipeHoldsUntilCleanWipeNow(t *testing.T) {
	wiper := newFakeWiper(errLeftovers, nil)
	r := newRig(t, winetest.TempDir(t), wiper)
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.send(Event{Kind: Logoff, Session: Session{ID: "3"}})
	r.waitState(protocol.SessionDirty)
	r.waitHold(true)
	if got := r.m.LastWipe(); !strings.HasPrefix(got, "dirty: verify: 2 leftovers") {
		t.Fatalf("LastWipe = %q", got)
	}

	// A logon that slips past the hold is ended.
	r.send(Event{Kind: Logon, Session: patron("4", "patron1", t0)})
	select {
	case id := <-r.ctl.terminated:
		if id != "4" {
			t.Fatalf("terminated %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session started on a dirty seat was not ended")
	}
	r.send(Event{Kind: Logoff, Session: Session{ID: "4"}})
	recv(t, wiper.called, "wipe") // the first, dirty wipe
	// The ended session is wiped too; the second result is clean.
	recv(t, wiper.called, "wipe")
	r.waitState(protocol.SessionFree)

	// Unlock alone does not clear dirty: check on a fresh dirty wipe.
	wiper.mu.Lock()
	wiper.results = []error{errLeftovers}
	wiper.mu.Unlock()
	if _, err := r.m.WipeNow(context.Background(), map[string]string{"user": "patron1"}); !errors.Is(err, errLeftovers) {
		t.Fatalf("wipe-now err = %v, want leftovers", err)
	}
	r.waitState(protocol.SessionDirty)
	for len(r.m.Changes()) > 0 {
		<-r.m.Changes()
	}
	if _, err := r.m.Lock(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	recv(t, r.m.Changes(), "a change after lock on a dirty seat") // Status.Locked moved
	out, err := r.m.Unlock(context.Background(), nil)
	if err != nil || !strings.Contains(out, "stays held") {
		t.Fatalf("unlock on dirty = %q, %v", out, err)
	}
	r.waitState(protocol.SessionDirty)
	out, err = r.m.WipeNow(context.Background(), nil)
	if err != nil || !strings.Contains(out, "wiped 1 account(s): clean") {
		t.Fatalf("wipe-now = %q, %v", out, err)
	}
	r.waitState(protocol.SessionFree)
	r.waitHold(false)
	if !slices.Contains(r.sink.Kinds(), protocol.EventSessionRefused) || !slices.Contains(r.sink.Kinds(), protocol.EventSessionDirty) {
		t.Fatalf("events = %v", r.sink.Kinds())
	}
}

func TestStaffAndRootNeverWiped(t *testing.T) {
	wiper := newFakeWiper()
	r := newRig(t, winetest.TempDir(t), wiper)
	for i, s := range []Session{
		{ID: "1", User: "staff1", UID: "1002"},
		{ID: "2", User: "root", UID: "0"},
		{ID: "3", User: "patron1", UID: "0"}, // uid 0 under a patron name: never
		{ID: "4", User: "someone", UID: "1003"},
	} {
		r.send(Event{Kind: Logon, Session: s})
		if st, _ := r.m.Current(); st != protocol.SessionFree {
			t.Fatalf("%d: state %s after a non-patron logon", i, st)
		}
		r.send(Event{Kind: Logoff, Session: Session{ID: s.ID}})
	}
	// A patron logon after them is processed, so the ones before were too.
	r.send(Event{Kind: Logon, Session: patron("9", "patron2", t0)})
	testbin.WaitFor(t, 10*time.Second, "session.started", func() bool { return len(r.sink.Kinds()) > 0 })
	if k := r.sink.Kinds(); len(wiper.called) != 0 || !slices.Equal(k, []protocol.EventKind{protocol.EventSessionStarted}) {
		t.Fatalf("wipes %d, events %v", len(wiper.called), k)
	}
}

func TestWipeOnlyAfterLastSessionOfUser(t *testing.T) {
	wiper := newFakeWiper()
	r := newRig(t, winetest.TempDir(t), wiper)
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.send(Event{Kind: Logon, Session: patron("5", "patron1", t0.Add(time.Minute))})
	r.send(Event{Kind: Logoff, Session: Session{ID: "3"}})
	r.send(Event{Kind: Logoff, Session: Session{ID: "99"}}) // unknown: ignored
	if st, since := r.m.Current(); st != protocol.SessionInUse || !since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("state %s since %v with one session left", st, since)
	}
	if len(wiper.called) != 0 {
		t.Fatal("wiped while the patron still had a session")
	}
	r.send(Event{Kind: Logoff, Session: Session{ID: "5"}})
	recv(t, wiper.called, "wipe")
	r.waitState(protocol.SessionFree)
}

func TestLockSurvivesRestart(t *testing.T) {
	dir := winetest.TempDir(t)
	r := newRig(t, dir, newFakeWiper())
	changes := r.m.Changes()
	for len(changes) > 0 {
		<-changes
	}
	out, err := r.m.Lock(context.Background(), nil)
	if err != nil || out != "locked; 0 open session(s) asked to lock" {
		t.Fatalf("lock = %q, %v", out, err)
	}
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("no change notification after lock")
	}
	if st, _ := r.m.Current(); st != protocol.SessionLocked || !r.m.Locked() {
		t.Fatalf("state %s locked %v", st, r.m.Locked())
	}
	r.waitHold(true)
	r.stop()

	// A new instance (agent restart or reboot) reads the file.
	r2 := newRig(t, dir, newFakeWiper())
	if st, _ := r2.m.Current(); st != protocol.SessionLocked || !r2.m.Locked() {
		t.Fatalf("after restart: state %s locked %v", st, r2.m.Locked())
	}
	r2.waitHold(true)
	// A patron who was already on (Initial) gets a locked screen; a new logon is ended.
	r2.w.initial = nil
	r2.send(Event{Kind: Logon, Session: patron("7", "patron1", t0)})
	if id := recv(t, r2.ctl.terminated, "terminate"); id != "7" {
		t.Fatalf("terminated %s", id)
	}
	if err := r2.m.ApplyLock(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	r2.waitHold(false)
	r2.stop()
	st, err := NewLockStore(dir).Load()
	if err != nil || st.Locked {
		t.Fatalf("after unlock file = %+v, %v", st, err)
	}
}

func TestLockedInitialSessionIsLockedNotEnded(t *testing.T) {
	dir := winetest.TempDir(t)
	if err := NewLockStore(dir).Save(LockState{Locked: true}); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, dir, newFakeWiper(), patron("2", "patron1", t0))
	testbin.WaitFor(t, 10*time.Second, "open session locked", func() bool {
		r.ctl.mu.Lock()
		defer r.ctl.mu.Unlock()
		return slices.Equal(r.ctl.locked, []string{"2"})
	})
	if len(r.ctl.terminated) != 0 {
		t.Fatal("an already-open session was ended at start")
	}
}

func TestInterruptedWipeResumesAtStart(t *testing.T) {
	dir := winetest.TempDir(t)
	wiper := newFakeWiper()
	wiper.block = make(chan struct{})
	r := newRig(t, dir, wiper)
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.send(Event{Kind: Logoff, Session: Session{ID: "3"}})
	recv(t, wiper.called, "wipe")
	r.stop() // power cut mid-wipe, as far as the state file knows

	wiper2 := newFakeWiper()
	r2 := newRig(t, dir, wiper2)
	if u := recv(t, wiper2.called, "wipe"); u.Name != "patron1" {
		t.Fatalf("resumed wipe of %+v", u)
	}
	r2.waitState(protocol.SessionFree)
	r2.waitHold(false)
}

func TestWatcherRestartReconciles(t *testing.T) {
	wiper := newFakeWiper()
	r := newRig(t, winetest.TempDir(t), wiper)
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.waitState(protocol.SessionInUse)
	// The bus drops; the session ends while nobody listens.
	r.w.fail <- errors.New("bus lost")
	select {
	case <-r.w.runs:
	case <-time.After(10 * time.Second):
		t.Fatal("watcher not restarted")
	}
	if u := recv(t, wiper.called, "wipe"); u.Name != "patron1" {
		t.Fatalf("wiped %+v", u)
	}
	r.waitState(protocol.SessionFree)
}

func TestUnreadableLockStateFailsClosed(t *testing.T) {
	dir := winetest.TempDir(t)
	if err := os.WriteFile(filepath.Join(dir, LockFileName), []byte(`{"v":1,"locked":fal`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, dir, newFakeWiper())
	if st, _ := r.m.Current(); st != protocol.SessionDirty || !r.m.Locked() {
		t.Fatalf("state %s locked %v", st, r.m.Locked())
	}
	r.waitHold(true)
	if k := r.sink.Kinds(); len(k) == 0 || k[0] != protocol.EventStateBroken {
		t.Fatalf("events %v", k)
	}
}

func TestHoldFailureIsReported(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	r.ctl.mu.Lock()
	r.ctl.failHold = errors.New("usermod: exit status 1")
	r.ctl.mu.Unlock()
	if _, err := r.m.Lock(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "locked, but holding patron logons failed") {
		t.Fatalf("lock with a failing hold: %v", err)
	}
	if !r.m.Locked() {
		t.Fatal("lock not kept after the hold failed")
	}
	if !slices.Contains(r.sink.Kinds(), protocol.EventHoldFailed) {
		t.Fatalf("events %v", r.sink.Kinds())
	}
}

func TestHandlersRefuseBadArgs(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	ctx := context.Background()
	h := r.m.Handlers()
	for _, a := range []protocol.Action{protocol.ActionLock, protocol.ActionUnlock, protocol.ActionMessage,
		protocol.ActionEndSession, protocol.ActionWipeNow, protocol.ActionReboot, protocol.ActionShutdown} {
		if h[a] == nil {
			t.Fatalf("no handler for %s", a)
		}
	}
	tests := []struct {
		action protocol.Action
		args   map[string]string
		want   string
	}{
		{protocol.ActionLock, map[string]string{"now": "1"}, `unknown argument "now" (this command takes no arguments)`},
		{protocol.ActionReboot, map[string]string{"delay": "5"}, `unknown argument "delay"`},
		{protocol.ActionShutdown, map[string]string{"x": ""}, `unknown argument "x"`},
		{protocol.ActionMessage, nil, "text is missing"},
		{protocol.ActionMessage, map[string]string{"text": "  \n"}, "text is missing"},
		{protocol.ActionMessage, map[string]string{"text": strings.Repeat("a", protocol.MaxMessageText+1)}, "longer than 500"},
		{protocol.ActionMessage, map[string]string{"text": "hi \x1b[2J"}, "control character U+001B"},
		{protocol.ActionMessage, map[string]string{"text": "hi \u202eexe.txt"}, "control character U+202E"},
		{protocol.ActionMessage, map[string]string{"text": "\xff"}, "not valid UTF-8"},
		{protocol.ActionMessage, map[string]string{"text": "hi", "to": "x"}, `unknown argument "to" (this command takes only text)`},
		{protocol.ActionMessage, map[string]string{"text": "Closing in 5 minutes"}, "no patron session is open"},
		{protocol.ActionEndSession, map[string]string{"session": "42"}, `no open patron session "42"`},
		{protocol.ActionEndSession, nil, "no patron session is open"},
		{protocol.ActionWipeNow, map[string]string{"user": "staff1"}, `"staff1" is not a patron account`},
		{protocol.ActionWipeNow, map[string]string{"user": "root"}, `"root" is not a patron account`},
	}
	for _, tt := range tests {
		_, err := h[tt.action](ctx, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: err = %v, want %q", tt.action, tt.args, err, tt.want)
		}
	}
	if len(r.power.calls) != 0 {
		t.Fatal("power action despite bad args")
	}
}

func TestSessionCommands(t *testing.T) {
	wiper := newFakeWiper()
	r := newRig(t, winetest.TempDir(t), wiper)
	ctx := context.Background()
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.send(Event{Kind: Logon, Session: Session{ID: "4", User: "staff1", UID: "1002"}})
	r.waitState(protocol.SessionInUse)

	if out, err := r.m.Message(ctx, map[string]string{"text": "Closing in 5 minutes\r\nPlease save."}); err != nil || out != "shown in 1 session(s)" {
		t.Fatalf("message = %q, %v", out, err)
	}
	if got := r.ctl.messages; !slices.Equal(got, []string{"3: Closing in 5 minutes\nPlease save."}) {
		t.Fatalf("messages = %q", got)
	}
	if _, err := r.m.WipeNow(ctx, nil); err == nil || !strings.Contains(err.Error(), "end it first") {
		t.Fatalf("wipe-now with a patron on: %v", err)
	}
	if _, err := r.m.EndSession(ctx, map[string]string{"session": "4"}); err == nil {
		t.Fatal("end-session of a staff session accepted")
	}
	out, err := r.m.EndSession(ctx, map[string]string{"session": "3"})
	if err != nil || out != "ended 1 session(s); the wipe follows" {
		t.Fatalf("end-session = %q, %v", out, err)
	}
	if id := recv(t, r.ctl.terminated, "terminate"); id != "3" {
		t.Fatalf("terminated %s", id)
	}
	if out, err := r.m.Reboot(ctx, nil); err != nil || out != "rebooting" {
		t.Fatalf("reboot = %q, %v", out, err)
	}
	if out, err := r.m.Shutdown(ctx, map[string]string{}); err != nil || out != "shutting down" {
		t.Fatalf("shutdown = %q, %v", out, err)
	}
	if !slices.Equal(r.power.calls, []string{"reboot", "shutdown"}) {
		t.Fatalf("power calls %v", r.power.calls)
	}
	r.power.err = errors.New("access denied")
	if _, err := r.m.Reboot(ctx, nil); err == nil || err.Error() != "reboot: access denied" {
		t.Fatalf("reboot error = %v", err)
	}
}

func TestRunLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		r := newRig(t, winetest.TempDir(t), newFakeWiper())
		r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
		if _, err := r.m.Lock(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		r.send(Event{Kind: Logon, Session: patron("4", "patron1", t0)}) // ended in the background
		recv(t, r.ctl.terminated, "terminate")
		r.stop()
	}()
	testbin.WaitFor(t, 10*time.Second, "goroutines back to the count before Run", func() bool { return runtime.NumGoroutine() <= before })
}

type unimplementedWatcher struct{}

func (unimplementedWatcher) Run(context.Context, func(Event)) error { return ErrNotImplemented }

func TestRunStopsWhenNoWatcher(t *testing.T) {
	m, err := New(Options{Config: testConfig(), Log: testLogger(t), Watcher: unimplementedWatcher{},
		Wiper: newFakeWiper(), Controller: newFakeController(), Power: &fakePower{}, Sink: &eventrec.Recorder{},
		StateDir: winetest.TempDir(t), Clock: &fakeClock{now: t0}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	if err := recv(t, done, "Run to give up"); !errors.Is(err, ErrNotImplemented) {
		t.Fatalf("Run = %v, want ErrNotImplemented", err)
	}
}

// TestNotifyTellsPatronSessions: the patron's notice reaches every open
// patron session and no staff session; with none open, nothing is shown.
func TestNotifyTellsPatronSessions(t *testing.T) {
	r := newRig(t, winetest.TempDir(t), newFakeWiper())
	ctx := context.Background()
	if err := r.m.Notify(ctx, "invoice.exe was not kept."); err != nil {
		t.Fatalf("Notify with no session: %v", err)
	}
	r.send(Event{Kind: Logon, Session: patron("3", "patron1", t0)})
	r.send(Event{Kind: Logon, Session: Session{ID: "4", User: "staff1", UID: "1002"}})
	r.waitState(protocol.SessionInUse)
	if err := r.m.Notify(ctx, "invoice.exe was not kept."); err != nil {
		t.Fatal(err)
	}
	if err := r.m.Notify(ctx, "bad \x1b[2J"); err == nil {
		t.Error("Notify took a control character")
	}
	r.ctl.mu.Lock()
	got := slices.Clone(r.ctl.notices)
	r.ctl.mu.Unlock()
	if !slices.Equal(got, []string{"3: invoice.exe was not kept."}) {
		t.Fatalf("notices = %q", got)
	}
}

// helperCtl is a controller that runs session helpers, as the Linux and
// Windows ones do.
type helperCtl struct {
	*fakeController
	ran chan struct{}
}

func (c helperCtl) runHelpers(ctx context.Context, _ EventSink) error {
	close(c.ran)
	<-ctx.Done()
	return nil
}

type wrapped struct{ Controller }

func (w wrapped) Unwrap() Controller { return w.Controller }

// TestWrappedControllerRunsHelpers: a controller wrapped by the agent (its
// logon gate) still has its session helpers run.
func TestWrappedControllerRunsHelpers(t *testing.T) {
	ctl := helperCtl{fakeController: newFakeController(), ran: make(chan struct{})}
	m, err := New(Options{Config: testConfig(), Log: testLogger(t), Watcher: newFakeWatcher(), Wiper: newFakeWiper(),
		Controller: wrapped{wrapped{ctl}}, Power: &fakePower{}, Sink: &eventrec.Recorder{}, StateDir: winetest.TempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-ctl.ran:
	case <-time.After(5 * time.Second):
		t.Error("the wrapped controller's helpers never ran")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
