package link

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/backoff"

	"github.com/carrel-kiosk/carrel/agent/outbox"
	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// fakeStatus is a StatusSource whose lock state a test can flip.
type fakeStatus struct {
	locked atomic.Bool
}

func (f *fakeStatus) Collect(context.Context) protocol.Status {
	return protocol.Status{Hostname: "pc-1", OS: runtime.GOOS, AgentVersion: "test", Session: protocol.SessionUnknown, Locked: f.locked.Load()}
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func enroll(t testing.TB, h *testHub, stateDir string) *Identity {
	t.Helper()
	id, err := Enroll(context.Background(), EnrollOptions{HubURL: h.url(), Token: h.token, Fingerprint: h.fingerprint(), StateDir: stateDir, Hostname: "pc-1"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// agentUnderTest is an enrolled client with a real outbox, running against h.
type agentUnderTest struct {
	dir    string
	ob     *outbox.Outbox
	st     *fakeStatus
	client *Client
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

func startAgent(t testing.TB, h *testHub, dir string, tweak func(*Options)) *agentUnderTest {
	t.Helper()
	ob, err := outbox.Open(dir, outbox.Options{MaxEvents: 1000, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a := &agentUnderTest{dir: dir, ob: ob, st: &fakeStatus{}, logs: &syncBuffer{}}
	opt := Options{
		HubURL: h.url(), StateDir: dir, Outbox: ob, Status: a.st, Changed: status.Changed,
		Log:         slog.New(slog.NewTextHandler(io.MultiWriter(a.logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff:     backoff.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		StatusCheck: 10 * time.Millisecond, StatusInterval: time.Hour, CommandTimeout: 2 * time.Second,
	}
	if tweak != nil {
		tweak(&opt)
	}
	a.client, err = New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *agentUnderTest) run(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.done = make(chan error, 1)
	go func() { a.done <- a.client.Run(ctx) }()
	t.Cleanup(a.stop)
}

func (a *agentUnderTest) stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	<-a.done
	a.cancel = nil
	a.ob.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

func TestEnrollHappyPath(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	id := enroll(t, h, dir)
	if id.TerminalID != "term-1" || id.Cert.Leaf.Subject.CommonName != "term-1" {
		t.Fatalf("terminal id %q, cert CN %q", id.TerminalID, id.Cert.Leaf.Subject.CommonName)
	}
	loaded, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.TerminalID != id.TerminalID || loaded.Fingerprint != h.fingerprint() || !loaded.Cert.Leaf.Equal(id.Cert.Leaf) {
		t.Fatalf("stored identity differs: %+v", loaded)
	}
	if runtime.GOOS != "windows" {
		for _, f := range []string{agentPEMFile, caPEMFile, identityFile} {
			st, err := os.Stat(filepath.Join(dir, f))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v mode %v, want 0600", f, err, st.Mode().Perm())
			}
		}
	}
	// The key never left: the stored certificate's key is the one in agent.pem.
	if _, err := os.Stat(filepath.Join(dir, "key.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unexpected key file: %v", err)
	}
}

func TestEnrollWrongFingerprintSendsNothing(t *testing.T) {
	h := newTestHub(t)
	other, err := pki.LoadOrCreate(tempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := tempDir(t)
	_, err = Enroll(context.Background(), EnrollOptions{HubURL: h.url(), Token: h.token, Fingerprint: other.Fingerprint(), StateDir: dir})
	if !errors.Is(err, ErrWrongHub) || !strings.Contains(err.Error(), "does not match the fingerprint") {
		t.Fatalf("err = %v, want a fingerprint mismatch", err)
	}
	h.mu.Lock()
	calls := h.enrollCalls
	h.mu.Unlock()
	if calls != 0 {
		t.Fatalf("the hub received %d enrollment requests (the token was sent to an unpinned server)", calls)
	}
	if _, err := LoadIdentity(dir); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("identity stored after a refused enrollment: %v", err)
	}
}

func TestEnrollRefusals(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	_, err := Enroll(context.Background(), EnrollOptions{HubURL: h.url(), Token: "stale", Fingerprint: h.fingerprint(), StateDir: dir})
	if !errors.Is(err, ErrEnrollRefused) || !strings.Contains(err.Error(), "token expired") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("expired token: %v", err)
	}
	_, err = Enroll(context.Background(), EnrollOptions{HubURL: h.url(), Token: "t", Fingerprint: "abc", StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("malformed fingerprint: %v", err)
	}
	_, err = Enroll(context.Background(), EnrollOptions{HubURL: "https://" + h.addr, Token: "t", Fingerprint: h.fingerprint(), StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "wss://") {
		t.Fatalf("https url: %v", err)
	}
	fp := h.fingerprint()
	h.stop()
	_, err = Enroll(context.Background(), EnrollOptions{HubURL: h.url(), Token: "t", Fingerprint: fp, StateDir: dir, Timeout: 5 * time.Second})
	if !errors.Is(err, ErrHubUnreachable) {
		t.Fatalf("stopped hub: %v", err)
	}
}

func TestNewRequiresEnrollment(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	ob, err := outbox.Open(dir, outbox.Options{MaxEvents: 10, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if _, err := New(Options{HubURL: h.url(), StateDir: dir, Outbox: ob, Status: &fakeStatus{}}); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("New without enrollment: %v", err)
	}
}

func TestLinkSendsHelloEventsAndAcks(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	a := startAgent(t, h, dir, nil)
	for i := 0; i < 3; i++ {
		if err := a.ob.Emit("test.before", protocol.SeverityInfo, map[string]string{"i": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "three events", func() bool { ev, _, _ := h.snapshot(); return len(ev) == 3 })
	if err := a.ob.Emit("test.after", protocol.SeverityWarn, nil); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 10*time.Second, "fourth event and acks", func() bool {
		ev, _, _ := h.snapshot()
		return len(ev) == 4 && a.ob.Len() == 0
	})
	ev, _, hellos := h.snapshot()
	for i, e := range ev {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if len(hellos) != 1 || hellos[0].NextSeq != 4 || hellos[0].TerminalID != "term-1" || hellos[0].Status.Hostname != "pc-1" {
		t.Fatalf("hello: %+v", hellos)
	}
	h.mu.Lock()
	origins, exts := h.origins, h.extensions
	h.mu.Unlock()
	if origins[0] != "" || exts[0] != "" {
		t.Fatalf("agent sent Origin %q / extensions %q", origins[0], exts[0])
	}
}

func TestHubRestartResendsUnackedInOrder(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	h.autoAck = false
	a := startAgent(t, h, dir, nil)
	a.run(t)
	for i := 1; i <= 5; i++ {
		if err := a.ob.Emit("test.e", protocol.SeverityInfo, map[string]string{"i": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	testbin.WaitFor(t, 10*time.Second, "five events at the hub", func() bool { ev, _, _ := h.snapshot(); return len(ev) == 5 })

	// The hub stored only 1..2 durably, then went away.
	h.stop()
	h.mu.Lock()
	h.acked = 2
	h.events = nil
	h.mu.Unlock()
	testbin.WaitFor(t, 10*time.Second, "agent to notice", func() bool { return strings.Contains(a.logs.String(), "Link to hub down") })
	for i := 6; i <= 7; i++ {
		if err := a.ob.Emit("test.e", protocol.SeverityInfo, map[string]string{"i": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	h.autoAck = true
	h.mu.Unlock()
	h.start(h.addr)
	testbin.WaitFor(t, 10*time.Second, "events 3..7 after reconnect", func() bool {
		ev, _, _ := h.snapshot()
		return len(ev) >= 5 && a.ob.Len() == 0
	})
	ev, _, hellos := h.snapshot()
	if len(ev) != 5 {
		t.Fatalf("hub got %d events after restart, want exactly 5 (3..7): %+v", len(ev), ev)
	}
	for i, e := range ev {
		if e.Seq != uint64(i+3) || e.Data["i"] != fmt.Sprint(i+3) {
			t.Fatalf("after restart event %d is seq %d (%s), want %d", i, e.Seq, e.Data["i"], i+3)
		}
	}
	if last := hellos[len(hellos)-1]; last.NextSeq != 8 {
		t.Fatalf("hello after restart says next seq %d, want 8", last.NextSeq)
	}
}

func cmd(id, terminal string, action protocol.Action, issued time.Time, life time.Duration) *protocol.Command {
	return &protocol.Command{ID: id, Terminal: terminal, Action: action, IssuedBy: "desk1", IssuedAt: issued, ExpiresAt: issued.Add(life)}
}

func TestCommands(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	var locked atomic.Int32
	var formatted atomic.Int32
	handlers := map[protocol.Action]protocol.CommandHandler{
		protocol.ActionLock: func(ctx context.Context, args map[string]string) (string, error) {
			locked.Add(1)
			return "locked: " + args["reason"], nil
		},
		protocol.ActionMessage: func(ctx context.Context, args map[string]string) (string, error) {
			return "", errors.New("no patron session")
		},
		protocol.ActionWipeNow: func(ctx context.Context, args map[string]string) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		},
		// An action outside the closed set that the agent would answer: the
		// link's one check refuses it before asking.
		"format-disk": func(context.Context, map[string]string) (string, error) {
			formatted.Add(1)
			return "formatted", nil
		},
	}
	a := startAgent(t, h, dir, func(o *Options) {
		o.Commands = func(act protocol.Action) protocol.CommandHandler { return handlers[act] }
	})
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "connection", func() bool { return h.connected() == 1 })
	now := time.Now()

	for _, tc := range []struct {
		cmd     *protocol.Command
		ok      bool
		want    string // in Output when ok, in Error otherwise
		handled bool
	}{
		{cmd("c-ping", "term-1", protocol.ActionPing, now, time.Minute), true, "pong", false},
		{cmd("c-lock", "term-1", protocol.ActionLock, now, time.Minute), true, "locked: ", true},
		{cmd("c-other", "term-9", protocol.ActionLock, now, time.Minute), false, "misaddressed", false},
		{cmd("c-expired", "term-1", protocol.ActionLock, now.Add(-2*time.Minute), time.Minute), false, "expired", false},
		{cmd("c-future", "term-1", protocol.ActionLock, now.Add(5*time.Minute), time.Hour), false, "issued in the future", false},
		{cmd("c-skew", "term-1", protocol.ActionPing, now.Add(30*time.Second), time.Minute), true, "pong", false},
		{cmd("c-unknown", "term-1", "format-disk", now, time.Minute), false, "unknown action", false},
		{cmd("c-unregistered", "term-1", protocol.ActionReboot, now, time.Minute), false, "not supported", false},
		{cmd("c-fails", "term-1", protocol.ActionMessage, now, time.Minute), false, "no patron session", false},
		{cmd("c-slow", "term-1", protocol.ActionWipeNow, now, time.Minute), false, "deadline exceeded", false},
		{cmd("c-toolong", "term-1", protocol.ActionPing, now, 48*time.Hour), false, "expires more than", false},
	} {
		t.Run(tc.cmd.ID, func(t *testing.T) {
			before := locked.Load()
			h.send(tc.cmd)
			r := h.waitResult(t, tc.cmd.ID)
			text := r.Error
			if tc.ok {
				text = r.Output
			}
			if r.OK != tc.ok || !strings.Contains(text, tc.want) {
				t.Fatalf("result %+v, want ok=%v with %q", r, tc.ok, tc.want)
			}
			if ran := locked.Load() != before; ran != tc.handled {
				t.Fatalf("handler ran = %v, want %v", ran, tc.handled)
			}
			if formatted.Load() != 0 {
				t.Fatal("the handler of an action outside the closed set ran")
			}
		})
	}

	// Replay of an accepted command: refused, and the handler does not run again.
	replay := cmd("c-lock", "term-1", protocol.ActionLock, now, time.Minute)
	replay.ID = "c-lock"
	before := locked.Load()
	h.mu.Lock()
	h.results = nil
	h.mu.Unlock()
	h.send(replay)
	if r := h.waitResult(t, "c-lock"); r.OK || !strings.Contains(r.Error, "replayed") {
		t.Fatalf("replay: %+v", r)
	}
	if locked.Load() != before {
		t.Fatal("replayed command ran")
	}

	// A malformed command (expiry before issue) with a usable id still gets an answer.
	bad := []byte(`{"v":1,"type":"command","body":{"id":"c-bad","terminal":"term-1","action":"ping","issued_by":"x","issued_at":"2026-11-01T00:00:00Z","expires_at":"2026-10-01T00:00:00Z"}}`)
	h.broadcastRaw(bad)
	if r := h.waitResult(t, "c-bad"); r.OK || !strings.Contains(r.Error, "malformed") {
		t.Fatalf("malformed: %+v", r)
	}

	// After an agent restart the replay is still refused.
	a.stop()
	b := startAgent(t, h, dir, func(o *Options) {
		o.Commands = func(act protocol.Action) protocol.CommandHandler { return handlers[act] }
	})
	b.run(t)
	testbin.WaitFor(t, 10*time.Second, "reconnection", func() bool { _, _, hellos := h.snapshot(); return len(hellos) == 2 && h.connected() == 1 })
	h.mu.Lock()
	h.results = nil
	h.mu.Unlock()
	h.send(replay)
	if r := h.waitResult(t, "c-lock"); r.OK || !strings.Contains(r.Error, "replayed") {
		t.Fatalf("replay after restart: %+v", r)
	}
	if locked.Load() != before {
		t.Fatal("replayed command ran after restart")
	}
}

func TestCorruptSeenFileFailsClosed(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	if err := os.WriteFile(filepath.Join(dir, seenFile), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, h, dir, nil)
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "connection", func() bool { return h.connected() == 1 })
	h.send(cmd("old", "term-1", protocol.ActionPing, time.Now().Add(-10*time.Second), time.Minute))
	if r := h.waitResult(t, "old"); r.OK {
		t.Fatalf("a command issued before the record was lost ran: %+v", r)
	}
	h.send(cmd("new", "term-1", protocol.ActionPing, time.Now().Add(time.Second), time.Minute))
	if r := h.waitResult(t, "new"); !r.OK {
		t.Fatalf("a fresh command was refused: %+v", r)
	}
}

func TestStatusSentOnChange(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	a := startAgent(t, h, dir, nil) // StatusInterval is an hour: only a change sends
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "connection", func() bool { return h.connected() == 1 })
	a.st.locked.Store(true)
	testbin.WaitFor(t, 10*time.Second, "status with locked", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.statuses) > 0 && h.statuses[len(h.statuses)-1].Locked
	})
	h.mu.Lock()
	n := len(h.statuses)
	h.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d statuses sent for one change", n)
	}
}

// With StatusCheck an hour away, a nudge alone makes the change go out.
func TestStatusNudgeSendsAtOnce(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	nudge := make(chan struct{}, 1)
	a := startAgent(t, h, dir, func(o *Options) { o.StatusCheck, o.StatusNudge = time.Hour, nudge })
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "connection", func() bool { return h.connected() == 1 })
	a.st.locked.Store(true)
	nudge <- struct{}{}
	testbin.WaitFor(t, 10*time.Second, "status with locked after the nudge", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.statuses) > 0 && h.statuses[len(h.statuses)-1].Locked
	})
}

func TestRevokedCertificateRetriedSlowly(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	h.revoked = true
	type retry struct {
		delay   time.Duration
		refused bool
	}
	retries := make(chan retry, 10)
	a := startAgent(t, h, dir, func(o *Options) {
		o.RefusedRetry = time.Hour
		o.OnRetry = func(d time.Duration, refused bool, err error) { retries <- retry{d, refused} }
	})
	a.run(t)
	select {
	case r := <-retries:
		if !r.refused || r.delay < 30*time.Minute || r.delay > time.Hour {
			t.Fatalf("after a 403: refused=%v delay=%v, want a slow retry in [30m, 1h]", r.refused, r.delay)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no retry reported")
	}
	if !strings.Contains(a.logs.String(), "Hub refused this terminal") {
		t.Fatalf("refusal not logged clearly:\n%s", a.logs.String())
	}
}

func TestOversizedFrameDropsConnection(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	a := startAgent(t, h, dir, nil)
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "connection", func() bool { return h.connected() == 1 })
	h.broadcastRaw(bytes.Repeat([]byte("x"), protocol.MaxFrame+1))
	testbin.WaitFor(t, 10*time.Second, "reconnection", func() bool { _, _, hellos := h.snapshot(); return len(hellos) == 2 })
	if !strings.Contains(a.logs.String(), "read limit") {
		t.Fatalf("oversized frame not the reason:\n%s", a.logs.String())
	}
}

func TestRenewal(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	id := enroll(t, h, dir)
	// The agent's clock is past two thirds of the certificate's life.
	// Once renewed, the clock is real again (the test hub signs with the real
	// clock, so the new certificate would otherwise be due at once too).
	var offset atomic.Int64
	offset.Store(int64(time.Until(renewAt(id.Cert.Leaf).Add(time.Minute))))
	var certs []string
	var mu sync.Mutex
	a := startAgent(t, h, dir, func(o *Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		o.OnCert = func(c *x509.Certificate) {
			mu.Lock()
			certs = append(certs, c.SerialNumber.String())
			if len(certs) == 2 {
				offset.Store(0)
			}
			mu.Unlock()
		}
	})
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "renewed certificate", func() bool { mu.Lock(); defer mu.Unlock(); return len(certs) == 2 })
	loaded, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Cert.Leaf.SerialNumber.Cmp(id.Cert.Leaf.SerialNumber) == 0 {
		t.Fatal("renewed certificate not stored")
	}
	if loaded.Cert.Leaf.NotAfter.Before(id.Cert.Leaf.NotAfter) {
		t.Fatal("renewed certificate does not live longer")
	}
	// The next connection uses the new certificate.
	h.restart()
	testbin.WaitFor(t, 10*time.Second, "reconnect with new cert", func() bool { _, _, hellos := h.snapshot(); return len(hellos) >= 2 && h.connected() == 1 })
	h.mu.Lock()
	n := len(h.renews)
	h.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d renewals, want 1 (the new certificate is not due)", n)
	}
}

func TestRunStopsCleanly(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	before := runtime.NumGoroutine()
	a := startAgent(t, h, dir, nil)
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "connection", func() bool { return h.connected() == 1 })
	done := make(chan struct{})
	go func() { a.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancellation")
	}
	testbin.WaitFor(t, 5*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestTLSRefusalOfCertificateIsRetriedSlowly(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	// The hub now trusts only another CA for clients: the TLS handshake itself
	// refuses this agent's certificate, as a hub that rolled its CA or revoked us.
	other, err := pki.LoadOrCreate(tempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.clientCAs = other.Pool()
	h.mu.Unlock()
	h.restart()
	errs := make(chan error, 10)
	a := startAgent(t, h, dir, func(o *Options) {
		o.RefusedRetry = time.Hour
		o.OnRetry = func(d time.Duration, refused bool, err error) {
			if !refused {
				err = fmt.Errorf("not classed as a refusal: %w", err)
			}
			errs <- err
		}
	})
	a.run(t)
	select {
	case err := <-errs:
		var r *RefusedError
		if !errors.As(err, &r) {
			t.Fatalf("TLS refusal: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no retry reported")
	}
}

func TestSilentHubIsDroppedAfterPongWait(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	h.noPong = true
	a := startAgent(t, h, dir, func(o *Options) {
		o.PingPeriod = 50 * time.Millisecond
		o.PongWait = 300 * time.Millisecond
	})
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "a reconnect after the hub stopped answering pings", func() bool {
		_, _, hellos := h.snapshot()
		return len(hellos) >= 2
	})
	if !strings.Contains(a.logs.String(), "timeout") {
		t.Fatalf("the drop was not a read timeout:\n%s", a.logs.String())
	}
}

// fakeOutbox records acks for FuzzHubFrame.
type fakeOutbox struct{ acked atomic.Uint64 }

func (f *fakeOutbox) NextSeq() uint64                      { return 100 }
func (f *fakeOutbox) Pending(uint64, int) []protocol.Event { return nil }
func (f *fakeOutbox) Ack(seq uint64) error                 { f.acked.Store(seq); return nil }
func (f *fakeOutbox) Notify() <-chan struct{}              { return nil }

// FuzzHubFrame feeds arbitrary frames from the hub to the agent's dispatcher:
// it must never panic, never end the connection except for another protocol
// version or an oversized frame, answer at most one result per frame, and only
// ever answer with a result that is valid on the wire.
func FuzzHubFrame(f *testing.F) {
	now := time.Now().UTC().Truncate(time.Second)
	for _, m := range []protocol.Message{
		&protocol.Ack{Seq: 3},
		cmd("f-ping", "term-1", protocol.ActionPing, now, time.Minute),
		cmd("f-other", "term-2", protocol.ActionPing, now, time.Minute),
		cmd("f-unknown", "term-1", "exec", now, time.Minute),
		&protocol.Cert{Certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		&protocol.Welcome{TerminalID: "term-1"},
	} {
		b, err := protocol.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"type":"command","body":{"id":"x","terminal":"term-1","action":"ping","issued_by":"x","issued_at":"2026-11-01T00:00:00Z","expires_at":"2026-10-01T00:00:00Z"}}`))
	f.Add([]byte(`{"v":2,"type":"ack","body":{"seq":1}}`))
	f.Add([]byte(`{"v":1,"type":"command","body":{"id":""}}`))

	h := newTestHub(f)
	dir := tempDir(f)
	enroll(f, h, dir)
	f.Fuzz(func(t *testing.T, data []byte) {
		seenDir := tempDir(t)
		for _, name := range []string{identityFile, agentPEMFile, caPEMFile} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(seenDir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c, err := New(Options{HubURL: h.url(), StateDir: seenDir, Outbox: &fakeOutbox{}, Status: &fakeStatus{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.runCtx = ctx
		err = c.handleFrame(data)
		if err != nil && !errors.Is(err, protocol.ErrVersion) && !errors.Is(err, protocol.ErrTooLarge) {
			t.Fatalf("frame ended the connection: %v", err)
		}
		cancel()
		c.wg.Wait()
		if n := len(c.results); n > 1 {
			t.Fatalf("%d results for one frame", n)
		}
		if len(c.results) == 1 {
			r := <-c.results
			if _, err := protocol.Encode(&r); err != nil {
				t.Fatalf("result not sendable: %v", err)
			}
		}
	})
}

func TestBackoffGrowsAndResetsAfterStableConnection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stableAfter time.Duration
		want        []time.Duration // the first delays, at the top of their range
	}{
		{"flapping link backs off", time.Hour, []time.Duration{10, 20, 40, 80, 80}},
		{"stable link resets", time.Nanosecond, []time.Duration{10, 10, 10, 10, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHub(t)
			dir := tempDir(t)
			enroll(t, h, dir)
			h.dropAfter = true
			delays := make(chan time.Duration, 100)
			a := startAgent(t, h, dir, func(o *Options) {
				o.Backoff = backoff.Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond, Rand: func(n int64) int64 { return n - 1 }}
				o.StableAfter = tc.stableAfter
				o.OnRetry = func(d time.Duration, refused bool, err error) { delays <- d }
			})
			a.run(t)
			for i, w := range tc.want {
				select {
				case d := <-delays:
					if d != w*time.Millisecond {
						t.Fatalf("delay %d = %v, want %v", i, d, w*time.Millisecond)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no delay %d", i)
				}
			}
		})
	}
}
