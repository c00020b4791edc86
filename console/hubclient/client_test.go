package hubclient

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/console/fakehub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func startHub(t *testing.T) *fakehub.Server {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := fakehub.Start(dir, "SETUP-CODE", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t *testing.T, s *fakehub.Server) *Client {
	t.Helper()
	c := New(testLog(t), Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err := c.SetTarget(Target{URL: s.URL(), Fingerprint: s.Fingerprint()}); err != nil {
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
	s := startHub(t)
	c := newClient(t, s)
	ctx := ctxT(t)
	if _, err := c.Setup(ctx, protocol.SetupRequest{SetupCode: "WRONG", User: "ann", Password: "pw"}); err == nil {
		t.Fatal("setup with a wrong code succeeded")
	}
	res, err := c.Setup(ctx, protocol.SetupRequest{SetupCode: "SETUP-CODE", User: "ann", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if res.TOTPSecret == "" || !strings.HasPrefix(res.TOTPURI, "otpauth://") {
		t.Fatalf("setup answer %+v", res)
	}
	if _, err := c.Login(ctx, protocol.LoginRequest{User: "ann", Password: "wrong", TOTP: "000000"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: got %v, want ErrBadCredentials", err)
	}
	if _, err := c.Terminals(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("terminals before login: got %v, want ErrNotLoggedIn", err)
	}
	lr, err := c.Login(ctx, protocol.LoginRequest{User: "ann", Password: "correct horse", TOTP: "000000"})
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
	if info.User != "ann" || info.Fingerprint != s.Fingerprint() {
		t.Fatalf("hub info %+v", info)
	}
}

func login(t *testing.T, s *fakehub.Server, c *Client, role protocol.Role) {
	t.Helper()
	s.AddAccount("bob", fakehub.Account{Password: "pw", Code: "123456", Role: role})
	if _, err := c.Login(ctxT(t), protocol.LoginRequest{User: "bob", Password: "pw", TOTP: "123456"}); err != nil {
		t.Fatal(err)
	}
}

func TestRequestsAndPushes(t *testing.T) {
	s := startHub(t)
	c := newClient(t, s)
	login(t, s, c, protocol.RoleDesk)
	ctx := ctxT(t)
	s.SetTerminal(protocol.TerminalView{ID: "t1", Name: "pc-01", Online: true, Status: &protocol.Status{Session: protocol.SessionFree}})

	rec := newRecorder()
	cancel := c.Subscribe(rec.push, rec.link)
	defer cancel()
	if err := s.WaitFor(ctx, func() bool { return len(s.Subscribes()) == 1 }); err != nil {
		t.Fatal(err)
	}
	if got := s.Subscribes()[0]; got != 0 {
		t.Fatalf("first subscribe since_event = %d, want 0", got)
	}
	terms, err := c.Terminals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(terms) != 1 || terms[0].Name != "pc-01" {
		t.Fatalf("terminals %+v", terms)
	}

	s.SetTerminal(protocol.TerminalView{ID: "t1", Name: "pc-01", Online: true, Status: &protocol.Status{Session: protocol.SessionInUse}})
	id := s.AddEvent(protocol.EventView{Terminal: "t1", Kind: protocol.EventDownloadBlocked, Severity: protocol.SeverityAlert, Time: time.Now()})
	rec.wait(t, "terminal and event pushes", func() bool {
		return len(rec.terms) == 1 && rec.terms[0] == "t1="+protocol.StateInUse.String() && len(rec.events) == 1 && rec.events[0] == id
	})

	// Requests run concurrently and each gets its own answer.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := strings.Repeat("x", i+1)
			r, err := c.Command(ctx, "t1", protocol.ActionMessage, map[string]string{protocol.ArgText: msg})
			if err != nil {
				errs <- err
				return
			}
			if !r.OK || r.Output != "message done" {
				errs <- errors.New("bad result " + r.Output)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(s.Commands()); n != 20 {
		t.Fatalf("hub saw %d commands, want 20", n)
	}

	// A desk member is refused an admin action: the hub's error comes back.
	_, err = c.Command(ctx, "t1", protocol.ActionReboot, nil)
	var he *HubError
	if !errors.As(err, &he) || !strings.Contains(he.Msg, "admin") {
		t.Fatalf("reboot as desk: got %v, want a HubError", err)
	}
	// An agent's refusal is a Result, not an error.
	s.SetCommandAnswer(func(a protocol.CommandArgs) (protocol.Result, error) {
		return protocol.Result{OK: false, Error: "no session to end"}, nil
	})
	r, err := c.Command(ctx, "t1", protocol.ActionEndSession, nil)
	if err != nil || r.OK || r.Error != "no session to end" {
		t.Fatalf("end-session: %+v, %v", r, err)
	}
}

func TestReconnectCatchesUp(t *testing.T) {
	s := startHub(t)
	c := newClient(t, s)
	login(t, s, c, protocol.RoleAdmin)
	ctx := ctxT(t)
	rec := newRecorder()
	defer c.Subscribe(rec.push, rec.link)()
	rec.wait(t, "link up", func() bool { return rec.ups >= 1 })
	e1 := s.AddEvent(protocol.EventView{Terminal: "t1", Kind: protocol.EventSessionStarted, Severity: protocol.SeverityInfo, Time: time.Now()})
	e2 := s.AddEvent(protocol.EventView{Terminal: "t1", Kind: protocol.EventSessionEnded, Severity: protocol.SeverityInfo, Time: time.Now()})
	rec.wait(t, "two live events", func() bool { return len(rec.events) == 2 })

	// Stop the client from redialling until the missed events are stored.
	gate := make(chan struct{})
	c.mu.Lock()
	c.dialHook = func() { <-gate }
	c.mu.Unlock()
	s.DropConnections()
	rec.wait(t, "link down", func() bool { return len(rec.downs) == 1 })
	rec.mu.Lock()
	upsBefore := rec.ups // a subscriber on a live link may hear "up" twice
	rec.mu.Unlock()
	e3 := s.AddEventQuiet(protocol.EventView{Terminal: "t2", Kind: protocol.EventPolicyReasserted, Severity: protocol.SeverityWarn, Time: time.Now()})
	e4 := s.AddEventQuiet(protocol.EventView{Terminal: "t2", Kind: protocol.EventExecBlocked, Severity: protocol.SeverityAlert, Time: time.Now()})
	close(gate)

	rec.wait(t, "catch-up after reconnect", func() bool { return len(rec.events) == 4 && rec.ups > upsBefore })
	subs := s.Subscribes()
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

func TestSessionEndedStopsRedial(t *testing.T) {
	s := startHub(t)
	c := newClient(t, s)
	login(t, s, c, protocol.RoleDesk)
	rec := newRecorder()
	defer c.Subscribe(rec.push, rec.link)()
	rec.wait(t, "link up", func() bool { return rec.ups >= 1 })
	s.EndSessions()
	rec.wait(t, "session ended", func() bool {
		return len(rec.downs) > 0 && errors.Is(rec.downs[len(rec.downs)-1], ErrSessionEnded)
	})
	if _, err := c.Terminals(ctxT(t)); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("after the session ended: got %v, want ErrNotLoggedIn", err)
	}
	// run has returned: Close does not hang, and no further dial happens.
	dials := s.Dials()
	c.Close()
	if s.Dials() != dials {
		t.Fatal("the client redialled after the hub refused its session")
	}
}

func TestWrongFingerprintRefused(t *testing.T) {
	s := startHub(t)
	other := startHub(t) // a different CA
	c := New(testLog(t), Options{})
	defer c.Close()
	if err := c.SetTarget(Target{URL: s.URL(), Fingerprint: other.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
	s.AddAccount("bob", fakehub.Account{Password: "pw", Code: "1", Role: protocol.RoleDesk})
	_, err := c.Login(ctxT(t), protocol.LoginRequest{User: "bob", Password: "pw", TOTP: "1"})
	if !errors.Is(err, pki.ErrWrongHub) {
		t.Fatalf("login to a hub with another CA: got %v, want ErrWrongHub", err)
	}
	if err := c.SetTarget(Target{URL: s.URL(), Fingerprint: "not hex"}); err == nil {
		t.Fatal("a malformed fingerprint was accepted")
	}
	if err := c.SetTarget(Target{URL: "http://x", Fingerprint: s.Fingerprint()}); err == nil {
		t.Fatal("plain http was accepted")
	}
}

func TestBackoffBounds(t *testing.T) {
	min, max := 100*time.Millisecond, 2*time.Second
	for attempt := 1; attempt < 40; attempt++ {
		for range 50 {
			d := backoff(attempt, min, max)
			if d < min/2 || d > max {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, min/2, max)
			}
		}
	}
}

// Close ends every goroutine the client started (reader, writer, run loop).
func TestCloseLeavesNoGoroutines(t *testing.T) {
	s := startHub(t)
	before := runtime.NumGoroutine()
	c := New(testLog(t), Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err := c.SetTarget(Target{URL: s.URL(), Fingerprint: s.Fingerprint()}); err != nil {
		t.Fatal(err)
	}
	login(t, s, c, protocol.RoleDesk)
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
	s.Close() // the server's goroutines too
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
