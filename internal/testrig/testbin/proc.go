package testbin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGINT before it kills the process
// and fails the test.
const StopTimeout = 15 * time.Second

// RunTimeout bounds Run and Exec: a command that takes longer is killed.
const RunTimeout = time.Minute

// pollInterval is how often WaitFor checks its condition.
const pollInterval = 50 * time.Millisecond

// WaitFor polls cond until it is true, and fails t if d passes first. It is
// how these tests wait for another process: never a bare sleep.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pollInterval)
	}
}

// Proc is a running binary whose output (stdout and stderr interleaved) is
// kept for the failure message.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error // the process's exit; read only after done is closed
	// stopTimeout is StopTimeout but in this package's own tests.
	stopTimeout time.Duration
}

// Start starts bin with args; env nil means this process's environment. When
// t ends the process is stopped (see Stop) unless it already exited, and if t
// failed its output is logged under name.
func Start(t testing.TB, name string, env []string, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{name: name, done: make(chan struct{}), stopTimeout: StopTimeout}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", p.name, p.Output())
		}
	})
	return p
}

// Stop sends SIGINT and waits for the process to exit. An exit other than a
// clean one, or none within StopTimeout (the process is then killed), fails t;
// the output is logged when t ends. Stopping a process that has already
// exited does nothing.
func (p *Proc) Stop(t testing.TB) {
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
			t.Errorf("%s exited with %v after SIGINT", p.name, p.err)
		}
	case <-time.After(p.stopTimeout):
		p.Kill()
		t.Errorf("%s did not stop within %s of SIGINT", p.name, p.stopTimeout)
	}
}

// Kill kills the process at once and waits for it to be gone.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the process exited; call it only after Done is closed.
func (p *Proc) Err() error { return p.err }

// Output is what the process has written so far.
func (p *Proc) Output() string { return p.out.String() }

// Run runs bin to completion and returns its standard output. An error (or
// more than RunTimeout) fails t with both of its outputs.
func Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	stdout, stderr, err := Exec(bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// Exec runs bin to completion (killed after RunTimeout) and returns its
// outputs and how it exited, for commands that are meant to fail.
func Exec(bin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err = cmd.Run(); err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (killed after %s)", err, RunTimeout)
	}
	return o.String(), e.String(), err
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test's reads.
type syncBuffer struct {
	mu sync.Mutex // guards b
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
