package hub

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// waitFor polls cond until it holds or the deadline passes. It never sleeps to
// synchronise on its own: it only re-checks a condition.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// syncBuffer collects the hub's log for assertions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testHub struct {
	*Hub
	dir    string
	pin    [32]byte
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startHub(t testing.TB, mut func(*Config)) *testHub {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", EnrollPerMinute: 6000, EnrollBurst: 1000}
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
	return th
}

// stop cancels Run and waits for it (at most 10 s). Safe to call twice.
func (th *testHub) stop(t testing.TB) error {
	t.Helper()
	th.cancel()
	select {
	case err, ok := <-th.done:
		if ok {
			close(th.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
		return nil
	}
}

func (th *testHub) url(path string) string { return "https://" + th.Addr().String() + path }

func (th *testHub) clientTLS(cert *tls.Certificate) *tls.Config {
	c := pki.PinnedTLSConfig(th.pin, "127.0.0.1")
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func (th *testHub) token(t testing.TB, uses int, ttl time.Duration) string {
	t.Helper()
	tok, hash, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := th.Store().CreateToken(context.Background(), hash, uses, time.Now().Add(ttl), "test"); err != nil {
		t.Fatal(err)
	}
	return tok
}

func newCSR(t testing.TB) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "agent"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

// postEnroll POSTs an enrollment body and returns the status and decoded answer.
func (th *testHub) postEnroll(t testing.TB, body []byte) (int, protocol.EnrollResponse, protocol.ErrorResponse) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: th.clientTLS(nil)}, Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	resp, err := cl.Post(th.url(protocol.PathEnroll), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ok protocol.EnrollResponse
	var bad protocol.ErrorResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &ok); err != nil {
			t.Fatalf("enroll answer: %v: %s", err, b)
		}
	} else if err := json.Unmarshal(b, &bad); err != nil || bad.Error == "" {
		t.Fatalf("error answer is not an ErrorResponse: %v: %q", err, b)
	}
	return resp.StatusCode, ok, bad
}

type creds struct {
	id   string
	cert tls.Certificate
}

func (th *testHub) enroll(t testing.TB, token, hostname string) (creds, int, protocol.ErrorResponse) {
	t.Helper()
	csr, key := newCSR(t)
	body, _ := json.Marshal(protocol.EnrollRequest{Token: token, CSR: csr, Hostname: hostname, OS: "linux"})
	code, ok, bad := th.postEnroll(t, body)
	if code != http.StatusOK {
		return creds{}, code, bad
	}
	block, _ := pem.Decode([]byte(ok.Certificate))
	if block == nil {
		t.Fatal("enroll: no certificate PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if ok.CA != string(th.CA().CertPEM()) || leaf.Subject.CommonName != ok.TerminalID {
		t.Fatalf("enroll answer: CA or CN wrong (CN %q, id %q)", leaf.Subject.CommonName, ok.TerminalID)
	}
	return creds{id: ok.TerminalID, cert: tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key, Leaf: leaf}}, code, bad
}

func (th *testHub) mustEnroll(t testing.TB, hostname string) creds {
	t.Helper()
	c, code, bad := th.enroll(t, th.token(t, 1, time.Hour), hostname)
	if code != http.StatusOK {
		t.Fatalf("enroll %s: %d %s", hostname, code, bad.Error)
	}
	return c
}

func (th *testHub) dial(cert *tls.Certificate, header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{TLSClientConfig: th.clientTLS(cert), HandshakeTimeout: 10 * time.Second}
	return d.Dial("wss://"+th.Addr().String()+protocol.PathAgent, header)
}

// testAgent is a minimal agent: one reader goroutine collects frames; writes are
// serialised by mu. If autoAnswer is set it answers every command itself.
type testAgent struct {
	t      testing.TB
	id     string
	ws     *websocket.Conn
	mu     sync.Mutex
	frames chan protocol.Message
	closed chan struct{}
	err    error // the read error that ended the connection; read after closed

	autoAnswer func(*protocol.Command) *protocol.Result
}

func (th *testHub) connect(t testing.TB, c creds, nextSeq uint64, auto func(*protocol.Command) *protocol.Result) (*testAgent, *protocol.Welcome) {
	t.Helper()
	ws, _, err := th.dial(&c.cert, nil)
	if err != nil {
		t.Fatalf("dial as %s: %v", c.id, err)
	}
	a := &testAgent{t: t, id: c.id, ws: ws, frames: make(chan protocol.Message, 1024), closed: make(chan struct{}), autoAnswer: auto}
	t.Cleanup(func() { ws.Close(); <-a.closed })
	go a.readLoop()
	a.send(&protocol.Hello{TerminalID: c.id, NextSeq: nextSeq, Status: status(c.id)})
	w := a.expect(protocol.TypeWelcome).(*protocol.Welcome)
	return a, w
}

func status(host string) protocol.Status {
	return protocol.Status{Hostname: host, OS: "linux", OSVersion: "debian 12", Arch: "amd64", AgentVersion: "test",
		Session: protocol.SessionFree, CPUPercent: 3, MemUsed: 1 << 30, MemTotal: 4 << 30}
}

func (a *testAgent) readLoop() {
	defer close(a.closed)
	for {
		_, data, err := a.ws.ReadMessage()
		if err != nil {
			a.err = err
			return
		}
		m, err := protocol.Decode(data)
		if err != nil {
			a.err = fmt.Errorf("agent decode: %w", err)
			return
		}
		if cmd, ok := m.(*protocol.Command); ok && a.autoAnswer != nil {
			if r := a.autoAnswer(cmd); r != nil {
				a.send(r)
			}
			continue
		}
		select {
		case a.frames <- m:
		default:
			a.err = errors.New("test agent frame buffer full")
			return
		}
	}
}

func (a *testAgent) send(m protocol.Message) {
	a.t.Helper()
	b, err := protocol.Encode(m)
	if err != nil {
		a.t.Errorf("encode %s: %v", m.MsgType(), err)
		return
	}
	a.sendRaw(websocket.TextMessage, b)
}

func (a *testAgent) sendRaw(kind int, b []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return a.ws.WriteMessage(kind, b)
}

// expect returns the next frame, which must be of type want.
func (a *testAgent) expect(want protocol.Type) protocol.Message {
	a.t.Helper()
	select {
	case m := <-a.frames:
		if m.MsgType() != want {
			a.t.Fatalf("got %s frame, want %s", m.MsgType(), want)
		}
		return m
	case <-a.closed:
		a.t.Fatalf("connection ended waiting for %s: %v", want, a.err)
	case <-time.After(10 * time.Second):
		a.t.Fatalf("no %s frame within 10 s", want)
	}
	return nil
}

// waitAck reads acks until one covers seq.
func (a *testAgent) waitAck(seq uint64) {
	a.t.Helper()
	for {
		if ack := a.expect(protocol.TypeAck).(*protocol.Ack); ack.Seq >= seq {
			return
		}
	}
}

// waitClosed waits for the hub to end the connection and returns its close error.
func (a *testAgent) waitClosed() *websocket.CloseError {
	a.t.Helper()
	select {
	case <-a.closed:
	case <-time.After(10 * time.Second):
		a.t.Fatal("hub did not close the connection within 10 s")
	}
	var ce *websocket.CloseError
	if !errors.As(a.err, &ce) {
		a.t.Fatalf("connection ended without a close frame: %v", a.err)
	}
	return ce
}

func event(seq uint64) *protocol.Event {
	return &protocol.Event{Seq: seq, Time: time.Now().UTC(), Kind: "download.blocked", Severity: protocol.SeverityWarn,
		Data: map[string]string{"file": fmt.Sprintf("setup-%d.exe", seq)}}
}

// hubGoroutines lists live goroutines running hub code (for leak checks).
func hubGoroutines() []string {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	var out []string
	for _, g := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(g, "internal/hub.(*Hub)") || strings.Contains(g, "internal/hub.(*agentConn)") {
			out = append(out, g)
		}
	}
	return out
}
