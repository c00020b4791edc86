package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// testClock is the staff side's clock in tests: TOTP steps and session expiry
// move only when the test says so.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheapArgon keeps tests fast; staffapi's TestPasswordHash checks the real
// parameters.
var cheapArgon = staffapi.ArgonParams{Memory: 64, Time: 1, Threads: 1}

type staffHub struct {
	*testHub
	clock *testClock
}

// startStaffHub is startHub with the staff clock and cheap argon2 parameters set
// before Run.
func startStaffHub(t testing.TB, mut func(*Config)) *staffHub {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", EnrollPerMinute: 6000, EnrollBurst: 1000, NoControlSocket: true,
		Version: "test", Staff: staffapi.Config{LoginPerMinute: 6000, LoginBurst: 1000, Argon: cheapArgon}}
	clock := &testClock{t: time.Now().Truncate(time.Millisecond)}
	cfg.Staff.Now = clock.now
	if mut != nil {
		mut(&cfg)
	}
	logs := &syncBuffer{}
	h, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	pin, err := pki.ParseFingerprint(h.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	th := &testHub{Hub: h, dir: dir, pin: pin, log: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { th.done <- h.Run(ctx) }()
	t.Cleanup(func() {
		th.stop(t)
		if t.Failed() {
			t.Logf("hub log:\n%s", logs.String())
		}
	})
	return &staffHub{testHub: th, clock: clock}
}

func (sh *staffHub) client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: sh.clientTLS(nil)}, Timeout: 20 * time.Second}
}

// post sends a JSON body (or raw bytes) and returns the status and body.
func (sh *staffHub) post(t testing.TB, path string, body any, session string) (int, []byte) {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(http.MethodPost, sh.url(path), bytes.NewReader(b))
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	cl := sh.client()
	defer cl.CloseIdleConnections()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (sh *staffHub) setupCode(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sh.dir, staffapi.SetupCodeFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// setup creates the first admin through the API and returns its TOTP secret.
func (sh *staffHub) setup(t testing.TB, user, pw string) string {
	t.Helper()
	code, body := sh.post(t, protocol.PathStaffSetup, protocol.SetupRequest{SetupCode: sh.setupCode(t), User: user, Password: pw}, "")
	if code != http.StatusOK {
		t.Fatalf("setup: %d %s", code, body)
	}
	var r protocol.SetupResponse
	if err := json.Unmarshal(body, &r); err != nil || r.TOTPSecret == "" {
		t.Fatalf("setup answer: %v %s", err, body)
	}
	return r.TOTPSecret
}

// addStaff creates an account directly in the store and returns its TOTP secret.
func (sh *staffHub) addStaff(t testing.TB, user, pw string, role protocol.Role) string {
	t.Helper()
	r, err := sh.staff.CreateStaff(context.Background(), user, pw, role, "test")
	if err != nil {
		t.Fatal(err)
	}
	return r.TOTPSecret
}

// authenticator is what an authenticator app does with the secret staff get
// at setup (RFC 6238 defaults: SHA-1, 6 digits, 30 s).
var authenticator = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func (sh *staffHub) code(t testing.TB, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, sh.clock.now(), authenticator)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (sh *staffHub) login(t testing.TB, user, pw, code string) (int, protocol.LoginResponse, string) {
	t.Helper()
	status, body := sh.post(t, protocol.PathStaffLogin, protocol.LoginRequest{User: user, Password: pw, TOTP: code}, "")
	var ok protocol.LoginResponse
	var bad protocol.ErrorResponse
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &ok); err != nil || ok.Session == "" {
			t.Fatalf("login answer: %v %s", err, body)
		}
		return status, ok, ""
	}
	if err := json.Unmarshal(body, &bad); err != nil || bad.Error == "" {
		t.Fatalf("login refusal is not an ErrorResponse: %d %s", status, body)
	}
	return status, ok, bad.Error
}

// mustLogin logs in with the current code, moving the clock to the next step
// first so that each call uses a fresh code.
func (sh *staffHub) mustLogin(t testing.TB, user, pw, secret string) string {
	t.Helper()
	sh.clock.advance(30 * time.Second)
	status, r, msg := sh.login(t, user, pw, sh.code(t, secret))
	if status != http.StatusOK {
		t.Fatalf("login %s: %d %s", user, status, msg)
	}
	return r.Session
}

// auditRows returns the audit log.
func (sh *staffHub) auditRows(t testing.TB) []store.AuditRecord {
	t.Helper()
	rows, err := sh.Store().AuditLog(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// wantAudit fails unless a row has this actor and action and a detail "result"
// starting with result.
func (sh *staffHub) wantAudit(t testing.TB, actor, action, result string) store.AuditRecord {
	t.Helper()
	rows := sh.auditRows(t)
	for _, r := range rows {
		var d map[string]string
		json.Unmarshal([]byte(r.Detail), &d)
		if r.Actor == actor && string(r.Action) == action && strings.HasPrefix(d["result"], result) {
			if strings.Contains(r.Detail, "assword\":") {
				t.Fatalf("audit row holds a password field: %s", r.Detail)
			}
			return r
		}
	}
	var have []string
	for _, r := range rows {
		have = append(have, r.Actor+" "+string(r.Action)+" "+r.Target+" "+r.Detail)
	}
	t.Fatalf("no audit row %s %s %q in:\n%s", actor, action, result, strings.Join(have, "\n"))
	return store.AuditRecord{}
}

// console is a test staff client: one reader goroutine sorts frames into
// responses and pushes.
type console struct {
	t         testing.TB
	ws        *websocket.Conn
	mu        sync.Mutex
	nextID    uint64
	responses chan protocol.StaffResponse
	pushes    chan protocol.StaffPush
	closed    chan struct{}
	err       error
	paused    chan struct{} // when non-nil, the reader waits on it before reading
}

func (sh *staffHub) dialStaff(session string, header http.Header) (*websocket.Conn, *http.Response, error) {
	if header == nil {
		header = http.Header{}
	}
	if session != "" {
		header.Set("Authorization", "Bearer "+session)
	}
	d := websocket.Dialer{TLSClientConfig: sh.clientTLS(nil), HandshakeTimeout: 10 * time.Second}
	return d.Dial("wss://"+sh.Addr().String()+protocol.PathStaff, header)
}

func (sh *staffHub) console(t testing.TB, session string, paused chan struct{}) *console {
	t.Helper()
	ws, resp, err := sh.dialStaff(session, nil)
	if err != nil {
		t.Fatalf("dial staff: %v %v", resp, err)
	}
	c := &console{t: t, ws: ws, responses: make(chan protocol.StaffResponse, 64), pushes: make(chan protocol.StaffPush, 100000),
		closed: make(chan struct{}), paused: paused}
	t.Cleanup(func() { ws.Close(); <-c.closed })
	go c.readLoop()
	return c
}

func (c *console) readLoop() {
	defer close(c.closed)
	if c.paused != nil {
		<-c.paused
	}
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		f, err := protocol.DecodeStaffFrame(data)
		if err != nil {
			c.err = err
			return
		}
		if f.Response != nil {
			c.responses <- *f.Response
		} else {
			c.pushes <- *f.Push
		}
	}
}

// do sends a request and waits for its response.
func (c *console) do(op protocol.StaffOp, args any) protocol.StaffResponse {
	c.t.Helper()
	r, err := c.tryDo(op, args)
	if err != nil {
		c.t.Fatalf("%s: %v", op, err)
	}
	return r
}

// tryDo is do for a request the hub may answer by ending the connection: it
// returns the connection's end (its close error) instead of failing.
func (c *console) tryDo(op protocol.StaffOp, args any) (protocol.StaffResponse, error) {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	req := protocol.StaffRequest{ID: id, Op: op}
	if args != nil {
		req.Args, _ = json.Marshal(args)
	}
	b, _ := json.Marshal(req)
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	c.mu.Unlock()
	if err != nil {
		select {
		case <-c.closed:
			return protocol.StaffResponse{}, fmt.Errorf("connection ended: %v", c.err)
		case <-time.After(20 * time.Second):
			return protocol.StaffResponse{}, fmt.Errorf("send: %v", err)
		}
	}
	select {
	case r := <-c.responses:
		if r.ID != id {
			c.t.Fatalf("%s: response to %d, want %d", op, r.ID, id)
		}
		return r, nil
	case <-c.closed:
		select {
		case r := <-c.responses: // answered, then closed
			if r.ID == id {
				return r, nil
			}
		default:
		}
		return protocol.StaffResponse{}, fmt.Errorf("connection ended: %v", c.err)
	case <-time.After(20 * time.Second):
		c.t.Fatalf("%s: no response within 20 s", op)
	}
	return protocol.StaffResponse{}, nil
}

// ok runs a request that must succeed and decodes its body into out.
func (c *console) ok(op protocol.StaffOp, args, out any) {
	c.t.Helper()
	r := c.do(op, args)
	if !r.OK {
		c.t.Fatalf("%s: %s", op, r.Error)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			c.t.Fatalf("%s body: %v: %s", op, err, r.Body)
		}
	}
}

// event waits for the next pushed event.
func (c *console) event() protocol.EventView {
	c.t.Helper()
	for {
		select {
		case p := <-c.pushes:
			if p.Event != nil {
				return *p.Event
			}
		case <-c.closed:
			c.t.Fatalf("connection ended waiting for an event: %v", c.err)
		case <-time.After(20 * time.Second):
			c.t.Fatal("no event pushed within 20 s")
		}
	}
}

// waitClosed waits for the hub to end the connection.
func (c *console) waitClosed() error {
	c.t.Helper()
	select {
	case <-c.closed:
		return c.err
	case <-time.After(20 * time.Second):
		c.t.Fatal("hub did not close the console's connection within 20 s")
	}
	return errors.New("unreachable")
}
