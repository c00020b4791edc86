package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// fakeHub is the hub's view of its terminals, changed by the test. (The real
// hub's wiring is tested in internal/hub.)
type fakeHub struct {
	mu    sync.Mutex
	terms map[string]protocol.TerminalView
}

func newFakeHub() *fakeHub { return &fakeHub{terms: map[string]protocol.TerminalView{}} }

func (h *fakeHub) Terminal(_ context.Context, id string) (protocol.TerminalView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.terms[id]
	if !ok {
		return v, store.ErrNotFound
	}
	return v, nil
}

func (h *fakeHub) Terminals(context.Context) ([]protocol.TerminalView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]protocol.TerminalView, 0, len(h.terms))
	for _, v := range h.terms {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (h *fakeHub) set(id, name, branch string, session protocol.SessionState) {
	h.mu.Lock()
	h.terms[id] = protocol.TerminalView{ID: id, Name: name, Branch: branch, Online: true,
		Status: &protocol.Status{Hostname: name, OS: "linux", AgentVersion: "1", Session: session}}
	h.mu.Unlock()
}

type rig struct {
	t     testing.TB
	hub   *fakeHub
	st    *store.Store
	api   *Server
	srv   *httptest.Server
	cli   *http.Client
	admin protocol.APIKeyCreated // every branch
	north protocol.APIKeyCreated // branch north

	closeStore func()
}

func newRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	return newRigServer(t, cfg, nil)
}

// newRigServer is newRig with the test server's settings changed by mut.
func newRigServer(t testing.TB, cfg Config, mut func(*http.Server)) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeStore := func() { once.Do(func() { st.Close() }) }
	t.Cleanup(closeStore)
	h := newFakeHub()
	h.set("t-1", "north-1", "north", protocol.SessionFree)
	h.set("t-2", "north-2", "north", protocol.SessionInUse)
	h.set("t-3", "south-1", "south", protocol.SessionFree)
	if cfg.KeyCheck == 0 {
		cfg.KeyCheck = 50 * time.Millisecond
	}
	if cfg.KeyPerSec == 0 {
		cfg.KeyPerSec, cfg.KeyBurst = 1000, 1000
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(cfg, h, st, log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Handle(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = false
	// The hub's own kind of certificate (ECDSA, from its CA), not httptest's RSA one.
	caDir := t.TempDir()
	os.Chmod(caDir, 0o700)
	ca, err := pki.LoadOrCreate(caDir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 30*time.Second, 30*time.Second // as the hub's
	if mut != nil {
		mut(srv.Config)
	}
	srv.StartTLS()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.CloseClientConnections()
		srv.Close()
	})
	r := &rig{t: t, hub: h, st: st, api: a, srv: srv, cli: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, MaxIdleConnsPerHost: 100}}, closeStore: closeStore}
	if r.admin, err = st.CreateAPIKey(ctx, "all", "", "admin"); err != nil {
		t.Fatal(err)
	}
	if r.north, err = st.CreateAPIKey(ctx, "north sign", "north", "admin"); err != nil {
		t.Fatal(err)
	}
	return r
}

// get asks path with key and decodes a JSON answer into out (if not nil).
func (r *rig) get(key, path string, out any) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := r.cli.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("GET %s: %s: %v: %s", path, resp.Status, err, b)
		}
	}
	return resp.StatusCode
}

// sse is a feed client reading events.
type sse struct {
	resp   *http.Response
	events chan sseEvent
	done   chan struct{}
}

type sseEvent struct {
	id, name string
	ev       protocol.FeedEvent
}

func (r *rig) feed(key, query string, hdr http.Header) *sse {
	r.t.Helper()
	return openFeed(r.t, r.cli, r.srv.URL, key, query, hdr)
}

func openFeed(t testing.TB, cli *http.Client, base, key, query string, hdr http.Header) *sse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+PathFeed+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := cli.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("feed: %s: %s", resp.Status, b)
	}
	s := &sse{resp: resp, events: make(chan sseEvent, 100000), done: make(chan struct{})}
	t.Cleanup(func() { resp.Body.Close(); <-s.done })
	go func() {
		defer close(s.done)
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.name != "" {
					s.events <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(line[6:]), &cur.ev)
			}
		}
	}()
	return s
}

// next waits for the next event for which ok is true.
func (s *sse) next(t testing.TB, ok func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				t.Fatal("feed ended")
			}
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatal("no such event within 10 s")
		}
	}
}

// ended waits for the feed's end and returns its events until then.
func (s *sse) ended(t testing.TB, within time.Duration) []sseEvent {
	t.Helper()
	var got []sseEvent
	deadline := time.After(within)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				return got
			}
			got = append(got, e)
		case <-deadline:
			t.Fatalf("feed still open after %v", within)
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
