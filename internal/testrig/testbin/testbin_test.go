package testbin

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// helperEnv makes the test binary itself a process for Start to run: its
// value says how that process answers SIGINT.
const helperEnv = "TESTBIN_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helper(mode)
	}
	Main(m)
}

func helper(mode string) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	fmt.Println("ready")
	switch mode {
	case "clean":
		<-sigs
		fmt.Println("bye")
		os.Exit(0)
	case "exit3":
		<-sigs
		os.Exit(3)
	case "ignore":
		for range sigs {
			fmt.Println("ignored SIGINT")
		}
	}
	os.Exit(2)
}

// startHelper runs this test binary as a helper process in mode and waits
// until it handles SIGINT.
func startHelper(t testing.TB, mode string) *Proc {
	t.Helper()
	p := Start(t, "helper-"+mode, append(os.Environ(), helperEnv+"="+mode), os.Args[0], "-test.run=^$")
	WaitFor(t, 10*time.Second, "the helper to be ready", func() bool { return strings.Contains(p.Output(), "ready") })
	return p
}

// recorder is a testing.TB whose failures are written down instead of failing
// the test; its Fatal ends the calling goroutine as testing's does.
type recorder struct {
	testing.TB
	mu     sync.Mutex // guards failed
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func TestStopClean(t *testing.T) {
	p := startHelper(t, "clean")
	r := &recorder{TB: t}
	p.Stop(r)
	if f := r.failures(); len(f) != 0 {
		t.Errorf("a clean stop failed the test: %q", f)
	}
	if !strings.Contains(p.Output(), "bye") {
		t.Errorf("output %q lacks what the process wrote as it stopped", p.Output())
	}
	p.Stop(r) // again: a stopped process is left alone
	if f := r.failures(); len(f) != 0 {
		t.Errorf("a second stop failed the test: %q", f)
	}
}

func TestStopReportsExitStatus(t *testing.T) {
	p := startHelper(t, "exit3")
	r := &recorder{TB: t}
	p.Stop(r)
	if f := r.failures(); len(f) != 1 || !strings.Contains(f[0], "exited with exit status 3 after SIGINT") {
		t.Errorf("failures %q; want one saying it exited with status 3", f)
	}
}

func TestStopKillsWhatIgnoresSIGINT(t *testing.T) {
	p := startHelper(t, "ignore")
	p.stopTimeout = 500 * time.Millisecond
	r := &recorder{TB: t}
	p.Stop(r)
	if f := r.failures(); len(f) != 1 || !strings.Contains(f[0], "did not stop within 500ms of SIGINT") {
		t.Errorf("failures %q; want one saying it did not stop", f)
	}
	select {
	case <-p.Done():
	default:
		t.Error("the process still runs after Stop")
	}
	if !strings.Contains(p.Output(), "ignored SIGINT") {
		t.Errorf("output %q: the SIGINT never arrived", p.Output())
	}
}

func TestWaitForTimesOut(t *testing.T) {
	r := &recorder{TB: t}
	done := make(chan struct{})
	polls := 0
	go func() {
		defer close(done)
		WaitFor(r, 200*time.Millisecond, "the moon", func() bool { polls++; return false })
		t.Error("WaitFor returned although its condition never held")
	}()
	<-done
	if f := r.failures(); len(f) != 1 || f[0] != "timed out after 200ms waiting for the moon" {
		t.Errorf("failures %q", f)
	}
	if polls < 2 {
		t.Errorf("the condition was checked %d times", polls)
	}
}

func TestRunFailureSaysWhy(t *testing.T) {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(r, os.Args[0], "-test.run=^$", "-no-such-flag")
	}()
	<-done
	if f := r.failures(); len(f) != 1 || !strings.Contains(f[0], "exit status 2") || !strings.Contains(f[0], "no-such-flag") {
		t.Errorf("failures %q; want the exit status and the command's complaint", f)
	}
}

// TestHub serves the real carrel-hub, creates a token, lists no terminals,
// and restarts it on the same address with the same CA and data.
func TestHub(t *testing.T) {
	bin := Build(t, Options{}, "carrel-hub")["carrel-hub"]
	if again := Build(t, Options{}, "carrel-hub")["carrel-hub"]; again != bin {
		t.Errorf("a second Build made %s, not the first %s", again, bin)
	}
	h := StartHub(t, bin)
	if !strings.HasPrefix(h.Addr, "127.0.0.1:") || h.Fingerprint == "" {
		t.Fatalf("hub at %q with fingerprint %q", h.Addr, h.Fingerprint)
	}
	if h.SetupCode(t) == "" {
		t.Error("a fresh hub has no setup code")
	}
	tok := h.Token(t, 2)
	if tok.HubURL != h.URL() || tok.Fingerprint != h.Fingerprint || tok.Token == "" {
		t.Errorf("token %+v for a hub at %s with fingerprint %s", tok, h.URL(), h.Fingerprint)
	}
	if ts := h.Terminals(t); len(ts) != 0 {
		t.Errorf("terminals of a fresh hub: %+v", ts)
	}
	if evs := h.Events(t, "", ""); len(evs) != 0 {
		t.Errorf("events of a fresh hub: %+v", evs)
	}
	addr, fp := h.Addr, h.Fingerprint
	h.Restart(t)
	if h.Addr != addr || h.Fingerprint != fp {
		t.Errorf("restarted at %s with %s; was %s with %s", h.Addr, h.Fingerprint, addr, fp)
	}
	if tok2 := h.Token(t, 1); tok2.Token == tok.Token {
		t.Error("the restarted hub gave the same token again")
	}
}
