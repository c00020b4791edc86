package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

func tempDir(t testing.TB) string { return winetest.TempDir(t) }

// miniHub enrolls agents and stores their events, over real mutual TLS.
type miniHub struct {
	ca   *pki.CA
	addr string
	mu   sync.Mutex
	kind []string
	up   chan *websocket.Conn
}

func newMiniHub(t *testing.T) *miniHub {
	ca, err := pki.LoadOrCreate(tempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &miniHub{ca: ca, up: make(chan *websocket.Conn, 4)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathEnroll, func(w http.ResponseWriter, r *http.Request) {
		var req protocol.EnrollRequest
		body, _ := io.ReadAll(r.Body)
		if protocol.DecodeJSON(body, protocol.MaxFrame, &req) != nil {
			w.WriteHeader(400)
			return
		}
		c, _, _, err := ca.SignCSR(req.CSR, "t-1")
		if err != nil {
			w.WriteHeader(400)
			return
		}
		json.NewEncoder(w).Encode(protocol.EnrollResponse{TerminalID: "t-1", Certificate: c, CA: string(ca.CertPEM())})
	})
	mux.HandleFunc("GET "+protocol.PathAgent, func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		b, _ := protocol.Encode(&protocol.Welcome{TerminalID: "t-1", Locked: true})
		ws.WriteMessage(websocket.TextMessage, b)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			m, err := protocol.Decode(data)
			if err != nil {
				t.Errorf("mini hub: %v", err)
				return
			}
			if si, ok := m.(*protocol.SignIn); ok {
				b, _ := protocol.Encode(&protocol.SignInAnswer{ID: si.ID, Refusal: protocol.RefuseFines})
				ws.WriteMessage(websocket.TextMessage, b)
			}
			if ev, ok := m.(*protocol.Event); ok {
				h.mu.Lock()
				h.kind = append(h.kind, string(ev.Kind))
				h.mu.Unlock()
				b, _ := protocol.Encode(&protocol.Ack{Seq: ev.Seq})
				ws.WriteMessage(websocket.TextMessage, b)
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven}}
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *miniHub) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.kind...)
}

// enrolledConfig enrolls a fresh state dir with h and returns its config.
func enrolledConfig(t *testing.T, h *miniHub) config.Config {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.HubURL = "wss://" + h.addr
	cfg.StateDir = filepath.Join(tempDir(t), "state")
	cfg.StatusInterval = config.Duration(time.Second)
	cfg.Disable = config.Components // the components are tested in their packages and in seat_test.go
	if err := config.EnsureStateDir(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	if _, err := link.Enroll(context.Background(), link.EnrollOptions{HubURL: cfg.HubURL, Token: "t", Fingerprint: h.ca.Fingerprint(), StateDir: cfg.StateDir}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestNewRefusals(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.StateDir = filepath.Join(tempDir(t), "state")
	if _, err := New(cfg, "test", nil); !errors.Is(err, link.ErrNotEnrolled) {
		t.Fatalf("no hub_url: %v", err)
	}
	cfg.HubURL = "wss://127.0.0.1:1"
	if _, err := New(cfg, "test", nil); !errors.Is(err, link.ErrNotEnrolled) {
		t.Fatalf("not enrolled: %v", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	open := filepath.Join(tempDir(t), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755)
	cfg.StateDir = open
	if _, err := New(cfg, "test", nil); !errors.Is(err, config.ErrInsecureStateDir) || !strings.Contains(err.Error(), "chmod") {
		t.Fatalf("0755 state dir: %v", err)
	}
}

func TestRunEmitsStartedAndStopsCleanly(t *testing.T) {
	h := newMiniHub(t)
	cfg := enrolledConfig(t, h)
	a, err := New(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.TerminalID() != "t-1" {
		t.Fatalf("terminal %q", a.TerminalID())
	}
	compStarted, compStopped := make(chan struct{}), make(chan struct{})
	if err := a.add("test", func(ctx context.Context) error {
		close(compStarted)
		if err := a.outbox.Emit("test.ready", protocol.SeverityInfo, nil); err != nil {
			return err
		}
		<-ctx.Done()
		close(compStopped)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.add("test", func(context.Context) error { return nil }); err == nil {
		t.Fatal("duplicate component name accepted")
	}
	welcomed := make(chan protocol.Welcome, 1)
	a.welcomed = func(w protocol.Welcome) { welcomed <- w }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-compStarted
	if w := <-welcomed; w.TerminalID != "t-1" || !w.Locked {
		t.Fatalf("welcome not passed on: %+v", w)
	}
	testbin.WaitFor(t, 10*time.Second, "events at the hub", func() bool { return len(h.kinds()) >= 2 })
	if k := h.kinds(); k[0] != "agent.started" || k[1] != "test.ready" {
		t.Fatalf("hub got %v", k)
	}
	if err := a.add("late", func(context.Context) error { return nil }); err == nil {
		t.Fatal("Add after Run accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(StopTimeout):
		t.Fatal("Run did not return")
	}
	<-compStopped

	// A restart counts and the event sequence continues.
	b, err := New(cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.boots != 1 {
		t.Fatalf("restarts %d, want 1", b.boots)
	}
	b.outbox.Close()
}

func TestFailingComponentStopsAgent(t *testing.T) {
	h := newMiniHub(t)
	a, err := New(enrolledConfig(t, h), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	a.add("broken", func(context.Context) error { return boom })
	err = a.Run(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Run = %v, want the component's error naming it", err)
	}
}

func TestStuckComponentTimesOut(t *testing.T) {
	h := newMiniHub(t)
	a, err := New(enrolledConfig(t, h), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	a.stopTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	a.add("stuck", func(context.Context) error { <-release; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = a.Run(ctx)
	if !errors.Is(err, ErrStopTimeout) || !strings.Contains(err.Error(), "stuck") || strings.Contains(err.Error(), "link") {
		t.Fatalf("Run = %v, want a stop timeout naming only the stuck component", err)
	}
}

// TestAuditHeadGoingBackwardsIsReported: the agent keeps the highest signed
// audit head its hub sent; a Welcome whose head is lower (the hub's log cut
// short or restored from an older copy) or rewritten is an alert event, and
// a head its CA did not sign is never kept.
func TestAuditHeadGoingBackwardsIsReported(t *testing.T) {
	h := newMiniHub(t)
	a, err := New(enrolledConfig(t, h), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	head := func(seq int64, b byte) string {
		hd, err := h.ca.SignAuditHead(seq, bytes.Repeat([]byte{b}, 32), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return hd.String()
	}
	alarms := func() []protocol.Event {
		var out []protocol.Event
		for _, e := range a.outbox.Pending(0, 100) {
			if e.Kind == protocol.EventAuditAlarm {
				out = append(out, e)
			}
		}
		return out
	}
	a.checkAuditHead(head(5, 1))
	a.checkAuditHead(head(7, 2))
	a.checkAuditHead(head(7, 2))
	if n := len(alarms()); n != 0 {
		t.Fatalf("%d alarms for a log that only grew", n)
	}
	a.checkAuditHead(head(6, 3)) // backwards
	a.checkAuditHead(head(7, 9)) // same row, another hash
	got := alarms()
	if len(got) != 2 || got[0].Data[protocol.DataVerdict] != "backwards" || got[1].Data[protocol.DataVerdict] != "forked" ||
		got[0].Severity != protocol.SeverityAlert {
		t.Fatalf("alarms: %+v", got)
	}
	// Kept across a restart of the agent: the file is in the state dir.
	a.outbox.Close()
	b, err := New(a.cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.outbox.Close()
	if kept, ok := b.heads.Kept(h.ca.Fingerprint()); !ok || kept.Seq != 7 {
		t.Fatalf("kept head after restart: %+v %v", kept, ok)
	}
}

// TestSignInGoesOverTheLink: the seat's way to the hub (Agent.signIn) is the
// link: no link is ErrHubDown (the offline policy's cue), a live one carries
// the sign-in and brings the hub's answer back.
func TestSignInGoesOverTheLink(t *testing.T) {
	h := newMiniHub(t)
	a, err := New(enrolledConfig(t, h), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := protocol.SignIn{ID: "s-1", Card: "21234000012345", PIN: "4321"}
	if _, err := a.signIn(ctx, in); !errors.Is(err, session.ErrHubDown) {
		t.Fatalf("sign-in before the link: %v, want ErrHubDown", err)
	}
	welcomed := make(chan protocol.Welcome, 1)
	a.welcomed = func(w protocol.Welcome) { welcomed <- w }
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	defer func() { cancel(); <-done }()
	<-welcomed
	var ans protocol.SignInAnswer
	testbin.WaitFor(t, 10*time.Second, "the hub's answer", func() bool {
		ans, err = a.signIn(ctx, in)
		return err == nil
	})
	if ans.ID != "s-1" || ans.Refusal != protocol.RefuseFines {
		t.Errorf("answer %+v", ans)
	}
}
