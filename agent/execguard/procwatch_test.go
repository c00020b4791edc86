//go:build linux || darwin

package execguard

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// started is a child process; exited is closed once it has been waited for,
// and err then holds how it ended.
type started struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startSleep(t *testing.T, prog string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(prog, "60"), exited: make(chan struct{})}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
	return s
}

func TestProcessWatcherKillsPatronProcess(t *testing.T) {
	patron := t.TempDir()
	prog := filepath.Join(patron, "sleep")
	copyExecutable(t, "/bin/sleep", prog)
	// Started before the guard, as if it ran while the agent was down.
	victim := startSleep(t, prog)
	bystander := startSleep(t, "/bin/sleep")

	sink := &eventrec.Recorder{}
	pw := NewProcessWatcher(20*time.Millisecond, sink, discardLog())
	pw.SetRoots([]string{patron})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- pw.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Error(err)
		}
	}()

	select {
	case <-victim.exited:
		ee, ok := victim.err.(*exec.ExitError)
		if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("patron process ended with %v, want SIGKILL", victim.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("patron process not killed within 10s")
	}
	testbin.WaitFor(t, 5*time.Second, "exec.killed event", func() bool { return len(sink.OfKind(protocol.EventExecKilled)) == 1 })
	ev := sink.OfKind(protocol.EventExecKilled)[0]
	if ev.Sev != protocol.SeverityAlert || ev.Data["path"] != prog || ev.Data["pid"] != strconv.Itoa(victim.cmd.Process.Pid) || ev.Data["error"] != "" {
		t.Errorf("event %+v", ev)
	}
	// Several full sweeps later the process outside the roots still runs.
	n := pw.Sweeps()
	testbin.WaitFor(t, 5*time.Second, "three more sweeps", func() bool { return pw.Sweeps() >= n+3 })
	select {
	case <-bystander.exited:
		t.Fatalf("process outside the roots ended: %v", bystander.err)
	default:
	}
	if len(sink.OfKind(protocol.EventExecKilled)) != 1 {
		t.Errorf("events %+v", sink.OfKind(protocol.EventExecKilled))
	}
}
