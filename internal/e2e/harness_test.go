package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// bins holds the binaries built once for the whole package.
var bins struct {
	once  sync.Once
	dir   string
	err   error
	hub   string
	agent string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// build compiles carrel-hub and carrel-agent with the race detector, once.
func build(t *testing.T) (hub, agent string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "carrel-e2e-bin-")
		if bins.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-race", "-o", bins.dir+string(os.PathSeparator),
			"github.com/carrel-kiosk/carrel/cmd/carrel-hub", "github.com/carrel-kiosk/carrel/cmd/carrel-agent")
		out, err := cmd.CombinedOutput()
		if err != nil {
			bins.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		bins.hub = filepath.Join(bins.dir, "carrel-hub")
		bins.agent = filepath.Join(bins.dir, "carrel-agent")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.hub, bins.agent
}

// waitFor polls cond until it is true or the deadline passes. It is the only way
// these tests wait: never a bare sleep.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// proc is a running binary whose output is kept for the failure message.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

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

func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit; a process that needs SIGKILL fails the test.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v after SIGINT; output:\n%s", p.name, p.err, p.out.String())
		}
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within 10s of SIGINT", p.name)
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var enrollLine = regexp.MustCompile(`carrel-agent enroll --hub (\S+) --token (\S+) --fingerprint (\S+)`)

// tokenCreate runs `carrel-hub token create` and returns the hub URL, token and
// fingerprint from the exact command line it prints for IT.
func tokenCreate(t *testing.T, hub, data, hubURL string, uses int) (url, token, fp string) {
	t.Helper()
	out := run(t, hub, "token", "create", "--data", data, "--uses", fmt.Sprint(uses), "--ttl", "10m", "--hub-url", hubURL)
	m := enrollLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token create printed no agent command line:\n%s", out)
	}
	return m[1], m[2], m[3]
}

type terminal struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	OS     string `json:"os"`
	Online bool   `json:"online"`
}

func terminals(t *testing.T, hub, data string) []terminal {
	t.Helper()
	out := run(t, hub, "terminals", "--data", data, "--json")
	var ts []terminal
	if err := json.Unmarshal([]byte(out), &ts); err != nil {
		t.Fatalf("terminals --json: %v\n%s", err, out)
	}
	return ts
}

func online(ts []terminal) int {
	n := 0
	for _, x := range ts {
		if x.Online || x.State == "online" {
			n++
		}
	}
	return n
}

func runErr(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
