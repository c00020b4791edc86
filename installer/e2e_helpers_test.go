package installer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitUntil polls cond until it holds or d passes; it is how these tests wait.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testHub is a real `carrel-hub serve` on host loopback.
type testHub struct {
	bin, data, addr string
	stop            func(t *testing.T) // stops the serve process; safe to call twice
}

// startHub builds carrel-hub and serves it on a free loopback port until t ends.
func startHub(t *testing.T) *testHub {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "carrel-hub")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/carrel-kiosk/carrel/cmd/carrel-hub")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build carrel-hub: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h := &testHub{bin: bin, data: filepath.Join(dir, "data"), addr: addr}
	if err := os.MkdirAll(h.data, 0o700); err != nil {
		t.Fatal(err)
	}
	h.serve(t)
	return h
}

// serve starts `carrel-hub serve` on h.addr and waits until it listens.
func (h *testHub) serve(t *testing.T) {
	t.Helper()
	var out lockedBuffer
	p := exec.Command(h.bin, "serve", "--data", h.data, "--listen", h.addr)
	p.Stdout, p.Stderr = &out, &out
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.Wait(); close(exited) }()
	var once sync.Once
	h.stop = func(t *testing.T) {
		once.Do(func() {
			p.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				p.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("--- carrel-hub serve output:\n%s", out.String())
			}
		})
	}
	t.Cleanup(func() { h.stop(t) })
	waitUntil(t, 30*time.Second, "the hub to listen on "+h.addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("carrel-hub serve exited:\n%s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", h.addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// restart serves again on the same address and data after stop.
func (h *testHub) restart(t *testing.T) {
	t.Helper()
	h.stop(t)
	h.serve(t)
}

func (h *testHub) URL() string { return "wss://" + h.addr }

func (h *testHub) run(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, h.bin, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("carrel-hub %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// token creates an enrollment token for uses PCs and returns it with the CA
// fingerprint, as IT would copy them from the console.
func (h *testHub) token(t *testing.T, uses int) (token, fingerprint string) {
	t.Helper()
	out := h.run(t, "token", "create", "--data", h.data, "--uses", fmt.Sprint(uses), "--ttl", "10m", "--hub-url", h.URL(), "--json")
	var v struct {
		Token       string `json:"token"`
		Fingerprint string `json:"fingerprint"`
		HubURL      string `json:"hub_url"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Token == "" || v.Fingerprint == "" {
		t.Fatalf("token create --json: %v\n%s", err, out)
	}
	return v.Token, v.Fingerprint
}

type hubTerminal struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	OS           string `json:"os"`
	AgentVersion string `json:"agent_version"`
	State        string `json:"state"`
}

func (h *testHub) terminals(t *testing.T) []hubTerminal {
	t.Helper()
	out := h.run(t, "terminals", "--data", h.data, "--json")
	var ts []hubTerminal
	if err := json.Unmarshal(out, &ts); err != nil {
		t.Fatalf("terminals --json: %v\n%s", err, out)
	}
	return ts
}

// online returns the terminals the hub shows online.
func (h *testHub) online(t *testing.T) []hubTerminal {
	var on []hubTerminal
	for _, x := range h.terminals(t) {
		if x.State == "online" {
			on = append(on, x)
		}
	}
	return on
}
