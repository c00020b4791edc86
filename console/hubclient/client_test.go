package hubclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/hubrig"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startHub runs a real hub (internal/hub, in this process, on loopback) with
// no staff account yet; it stops when t ends.
func startHub(t *testing.T) *hubrig.Rig {
	t.Helper()
	return hubrig.Start(t, hubrig.Options{Log: testLog(t)})
}

// newClient is a client with quick redials pointed at url (the hub, or a tap
// in front of it) with the hub's CA pinned; it closes when t ends.
func newClient(t *testing.T, r *hubrig.Rig, url string) *Client {
	t.Helper()
	c := New(testLog(t), Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err := c.SetTarget(Target{URL: url, Fingerprint: r.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder collects pushes and link changes and lets a test wait on them.
type recorder struct {
	mu     sync.Mutex
	events []int64
	terms  []string
	ups    int
	downs  []error
	ch     chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) push(p protocol.StaffPush) {
	r.mu.Lock()
	if p.Event != nil {
		r.events = append(r.events, p.Event.ID)
	}
	if p.Terminal != nil {
		r.terms = append(r.terms, p.Terminal.ID+"="+string(p.Terminal.DisplayState()))
	}
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) link(up bool, err error) {
	r.mu.Lock()
	if up {
		r.ups++
	} else {
		r.downs = append(r.downs, err)
	}
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) signal() {
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.ch:
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out waiting for %s (events %v, terminals %v, ups %d, downs %v)", what, r.events, r.terms, r.ups, r.downs)
		}
	}
}

func TestSetupThenLogin(t *testing.T) {
	r := startHub(t)
	c := newClient(t, r, r.URL())
	ctx := ctxT(t)
	if _, err := c.Setup(ctx, protocol.SetupRequest{SetupCode: "WRONG", User: "ann", Password: "correct horse"}); err == nil {
		t.Fatal("setup with a wrong code succeeded")
	}
	res, err := c.Setup(ctx, protocol.SetupRequest{SetupCode: r.SetupCode(), User: "ann", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if res.TOTPSecret == "" || !strings.HasPrefix(res.TOTPURI, "otpauth://") {
		t.Fatalf("setup answer %+v", res)
	}
	ann := &hubrig.Account{User: "ann", Password: "correct horse", Secret: res.TOTPSecret}
	if _, err := c.Login(ctx, protocol.LoginRequest{User: "ann", Password: "wrong password", TOTP: "000000"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: got %v, want ErrBadCredentials", err)
	}
	if _, err := c.Terminals(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("terminals before login: got %v, want ErrNotLoggedIn", err)
	}
	lr, err := c.Login(ctx, protocol.LoginRequest{User: "ann", Password: "correct horse", TOTP: ann.Code(t)})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Role != protocol.RoleAdmin || lr.User != "ann" {
		t.Fatalf("login answer %+v", lr)
	}
	info, err := c.HubInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.User != "ann" || info.Fingerprint != r.Fingerprint() {
		t.Fatalf("hub info %+v", info)
	}
}

// SetupOpen tells a new hub (no staff account: open on first-run setup) from
// one with an account, and the probe creates nothing.
func TestSetupOpen(t *testing.T) {
	r := startHub(t)
	c := newClient(t, r, r.URL())
	ctx := ctxT(t)
	for range 2 { // asking again changes nothing
		open, err := c.SetupOpen(ctx)
		if err != nil || !open {
			t.Fatalf("new hub: SetupOpen = %v, %v; want true", open, err)
		}
	}
	if r.SetupCode() == "" {
		t.Fatal("the probe used up the setup code")
	}
	r.Setup(t, c, "root", "correct horse battery")
	if open, err := c.SetupOpen(ctx); err != nil || open {
		t.Fatalf("hub with an admin: SetupOpen = %v, %v; want false", open, err)
	}
	other := New(testLog(t), Options{})
	t.Cleanup(func() { other.Close() })
	if err := other.SetTarget(Target{URL: "https://127.0.0.1:1", Fingerprint: r.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.SetupOpen(ctx); err == nil {
		t.Fatal("SetupOpen of an unreachable hub: no error")
	}
}

// login logs c in with role. An admin is the hub's first account, made
// through first-run setup; a desk member "bob" is made by that admin, logged in
// on a client of its own, which is returned (nil for role admin). Each
// password check is a real argon2id hash, slow under -race, so no more are
// made than needed.
func login(t *testing.T, r *hubrig.Rig, c *Client, role protocol.Role) (admin *Client) {
	t.Helper()
	if role == protocol.RoleAdmin {
		if lr := r.Setup(t, c, "root", "correct horse battery").Login(t, c); lr.User != "root" || lr.Role != role {
			t.Fatalf("login answer %+v", lr)
		}
		return nil
	}
	admin = newClient(t, r, r.URL())
	r.Setup(t, admin, "root", "correct horse battery").Login(t, admin)
	bob := hubrig.AddStaff(t, admin, "bob", "bob's long password", role)
	if lr := bob.Login(t, c); lr.User != "bob" || lr.Role != role {
		t.Fatalf("login answer %+v", lr)
	}
	return admin
}

// TestRequestsAndPushes runs through a tap (hubrig.Tap) that records what the
// client asks the hub.
func TestRequestsAndPushes(t *testing.T) {
	r := startHub(t)
	tap := r.Tap(t)
	c := newClient(t, r, tap.URL())
	login(t, r, c, protocol.RoleDesk)
	ctx := ctxT(t)
	pc := r.AddTerminal(t, "pc-01", protocol.Status{Session: protocol.SessionFree})

	rec := newRecorder()
	cancel := c.Subscribe(rec.push, rec.link)
	defer cancel()
	testbin.WaitFor(t, 10*time.Second, "the subscription", func() bool { return len(tap.Subscribes()) == 1 })
	if got := tap.Subscribes()[0]; got != 0 {
		t.Fatalf("first subscribe since_event = %d, want 0", got)
	}
	terms, err := c.Terminals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(terms) != 1 || terms[0].Name != "pc-01" || terms[0].ID != pc.ID || !terms[0].Online {
		t.Fatalf("terminals %+v", terms)
	}

	pc.SetStatus(func(s *protocol.Status) { s.Session = protocol.SessionInUse })
	id := r.EventID(t, pc.ID, pc.Emit(t, protocol.EventDownloadBlocked, protocol.SeverityAlert, nil))
	rec.wait(t, "terminal and event pushes", func() bool {
		return len(rec.terms) == 1 && rec.terms[0] == pc.ID+"="+protocol.StateInUse.String() && len(rec.events) == 1 && rec.events[0] == id
	})

	// Requests run concurrently and each gets its own answer: commands, which
	// the hub answers when the agent has (out of order), among reads it answers
	// at once. The hub lets a console have 8 requests waiting on agents (more
	// are refused), so 8 of the 20 are commands.
	const commands, requests = 8, 20
	pc.Answer(func(a protocol.Action, args map[string]string) (string, error) {
		return string(a) + " done: " + args[protocol.ArgText], nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i >= commands {
				ts, err := c.Terminals(ctx)
				if err != nil {
					errs <- err
				} else if len(ts) != 1 || ts[0].ID != pc.ID {
					errs <- fmt.Errorf("terminals answer %+v", ts)
				}
				return
			}
			msg := strings.Repeat("x", i+1)
			r, err := c.Command(ctx, pc.ID, protocol.ActionMessage, map[string]string{protocol.ArgText: msg})
			if err != nil {
				errs <- err
				return
			}
			if want := "message done: " + msg; !r.OK || r.Output != want {
				errs <- fmt.Errorf("result %+v, want output %q", r, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(pc.Commands()); n != commands {
		t.Fatalf("the terminal carried out %d commands, want %d", n, commands)
	}
	if n := len(tap.Requests()); n < requests {
		t.Fatalf("the hub was sent %d requests, want at least %d", n, requests)
	}

	// A desk member is refused an admin action: the hub's error comes back.
	_, err = c.Command(ctx, pc.ID, protocol.ActionReboot, nil)
	var he *HubError
	if !errors.As(err, &he) || !strings.Contains(he.Msg, "admin") {
		t.Fatalf("reboot as desk: got %v, want a HubError", err)
	}
	// An agent's refusal is a Result, not an error.
	pc.Answer(func(protocol.Action, map[string]string) (string, error) {
		return "", errors.New("no session to end")
	})
	res, err := c.Command(ctx, pc.ID, protocol.ActionEndSession, nil)
	if err != nil || res.OK || res.Error != "no session to end" {
		t.Fatalf("end-session: %+v, %v", res, err)
	}
}

// TestReconnectCatchesUp drops the console's link with a tap between it and
// the hub, keeps it from redialling while two events are stored, and checks
// the resubscription asks for (and gets) exactly what it missed.
func TestReconnectCatchesUp(t *testing.T) {
	r := startHub(t)
	tap := r.Tap(t)
	c := newClient(t, r, tap.URL())
	login(t, r, c, protocol.RoleAdmin)
	ctx := ctxT(t)
	pc1 := r.AddTerminal(t, "pc-01", protocol.Status{})
	pc2 := r.AddTerminal(t, "pc-02", protocol.Status{})
	rec := newRecorder()
	defer c.Subscribe(rec.push, rec.link)()
	rec.wait(t, "link up", func() bool { return rec.ups >= 1 })
	e1 := r.EventID(t, pc1.ID, pc1.Emit(t, protocol.EventSessionStarted, protocol.SeverityInfo, nil))
	e2 := r.EventID(t, pc1.ID, pc1.Emit(t, protocol.EventSessionEnded, protocol.SeverityInfo, nil))
	rec.wait(t, "two live events", func() bool { return len(rec.events) == 2 })

	// Stop the client from redialling until the missed events are stored.
	gate := make(chan struct{})
	c.mu.Lock()
	c.dialHook = func() { <-gate }
	c.mu.Unlock()
	tap.Drop()
	rec.wait(t, "link down", func() bool { return len(rec.downs) == 1 })
	rec.mu.Lock()
	upsBefore := rec.ups // a subscriber on a live link may hear "up" twice
	rec.mu.Unlock()
	e3 := r.EventID(t, pc2.ID, pc2.Emit(t, protocol.EventPolicyReasserted, protocol.SeverityWarn, nil))
	e4 := r.EventID(t, pc2.ID, pc2.Emit(t, protocol.EventExecBlocked, protocol.SeverityAlert, nil))
	close(gate)

	rec.wait(t, "catch-up after reconnect", func() bool { return len(rec.events) == 4 && rec.ups > upsBefore })
	subs := tap.Subscribes()
	if len(subs) != 2 || subs[1] != e2 {
		t.Fatalf("subscribes %v, want [0 %d]", subs, e2)
	}
	want := []int64{e1, e2, e3, e4}
	rec.mu.Lock()
	got := append([]int64(nil), rec.events...)
	rec.mu.Unlock()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	// Requests work on the new link.
	if _, err := c.Terminals(ctx); err != nil {
		t.Fatal(err)
	}
	if c.LastEvent() != e4 {
		t.Fatalf("LastEvent %d, want %d", c.LastEvent(), e4)
	}
}

// TestSessionEndedStopsRedial: an admin disables the member; the hub drops
// the member's console and refuses its session on the redial.
func TestSessionEndedStopsRedial(t *testing.T) {
	r := startHub(t)
	c := newClient(t, r, r.URL())
	var dials atomic.Int64
	c.mu.Lock()
	c.dialHook = func() { dials.Add(1) }
	c.mu.Unlock()
	admin := login(t, r, c, protocol.RoleDesk)
	rec := newRecorder()
	defer c.Subscribe(rec.push, rec.link)()
	rec.wait(t, "link up", func() bool { return rec.ups >= 1 })
	if err := admin.StaffDisable(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "session ended", func() bool {
		return len(rec.downs) > 0 && errors.Is(rec.downs[len(rec.downs)-1], ErrSessionEnded)
	})
	if _, err := c.Terminals(ctxT(t)); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("after the session ended: got %v, want ErrNotLoggedIn", err)
	}
	// run has returned: Close does not hang, and no further dial happens.
	n := dials.Load()
	c.Close()
	if dials.Load() != n {
		t.Fatal("the client redialled after the hub refused its session")
	}
}

func TestWrongFingerprintRefused(t *testing.T) {
	r := startHub(t)
	other := startHub(t) // a different CA
	c := New(testLog(t), Options{})
	defer c.Close()
	if err := c.SetTarget(Target{URL: r.URL(), Fingerprint: other.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Login(ctxT(t), protocol.LoginRequest{User: "bob", Password: "bob's long password", TOTP: "123456"})
	if !errors.Is(err, pki.ErrWrongHub) {
		t.Fatalf("login to a hub with another CA: got %v, want ErrWrongHub", err)
	}
	if err := c.SetTarget(Target{URL: r.URL(), Fingerprint: "not hex"}); err == nil {
		t.Fatal("a malformed fingerprint was accepted")
	}
	if err := c.SetTarget(Target{URL: "http://x", Fingerprint: r.Fingerprint()}); err == nil {
		t.Fatal("plain http was accepted")
	}
}

// The redial delays stay within [BackoffMin/2, BackoffMax], and the n-th
// (from 0) under BackoffMin·2ⁿ.
func TestBackoffBounds(t *testing.T) {
	minD, maxD := 100*time.Millisecond, 2*time.Second
	c := New(slog.New(slog.DiscardHandler), Options{BackoffMin: minD, BackoffMax: maxD})
	for range 50 {
		bo := c.newBackoff()
		for attempt := 1; attempt < 40; attempt++ {
			ceil := maxD
			if attempt < 20 {
				ceil = min(maxD, minD<<(attempt-1))
			}
			d := c.retryDelay(bo)
			if d < minD/2 || d > ceil {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, minD/2, ceil)
			}
		}
	}
}

// Close ends every goroutine the client started (reader, writer, run loop).
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	r := startHub(t)
	c := New(testLog(t), Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err := c.SetTarget(Target{URL: r.URL(), Fingerprint: r.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
	r.Setup(t, c, "root", "correct horse battery").Login(t, c)
	rec := newRecorder()
	c.Subscribe(rec.push, rec.link)
	rec.wait(t, "link up", func() bool { return rec.ups >= 1 })
	if _, err := c.Terminals(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Terminals(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	r.Stop() // the hub's goroutines too
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left (had %d):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}
