package overlay

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func fakeTarget() Target {
	return Target{Session: "4", UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), Display: ":99"}
}

func TestTargetChecks(t *testing.T) {
	good := fakeTarget()
	bads := []Target{
		{Session: "", Display: ":0"},
		{Session: "4; rm", Display: ":0"},
	}
	if runtime.GOOS != "windows" { // Windows targets have no X display (see command_windows_test.go)
		bads = append(bads,
			Target{Session: "4", Display: "evil.example:0"},
			Target{Session: "4", Display: ":0", XAuthority: "relative/path"},
			Target{Session: "4", Display: ":0", XAuthority: "/tmp/x\nDISPLAY=:1"},
			Target{Session: "4", Display: ":0", XAuthority: "/tmp/../etc/shadow"})
	}
	for _, bad := range bads {
		if bad.check() == nil {
			t.Errorf("target %+v accepted", bad)
		}
	}
	if err := good.check(); err != nil {
		t.Error(err)
	}
}

func TestShowBeforeRunIsKeptForRun(t *testing.T) {
	start, pids := fakeStarter(t, "")
	s := NewSupervisor(Options{Log: testLogger(t), Start: start})
	if err := s.Lock(context.Background(), fakeTarget(), true); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Lock before Run: %v, want ErrNotRunning", err)
	}
	runSupervisor(t, s, &eventrec.Recorder{})
	testbin.WaitFor(t, 10*time.Second, "helper started by Run", func() bool { r, ok := s.Shown("4"); return ok && r.Lock })
	if n := len(readPids(t, pids)); n != 1 {
		t.Errorf("%d helpers started, want 1", n)
	}
}

func TestHelperLifecycle(t *testing.T) {
	start, pids := fakeStarter(t, "")
	s := NewSupervisor(Options{Log: testLogger(t), Start: start})
	sink := &eventrec.Recorder{}
	runSupervisor(t, s, sink)
	ctx := context.Background()
	tg := fakeTarget()

	if err := s.Lock(ctx, tg, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Message(ctx, tg, "hello"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Shown("4"); !r.Lock || r.MsgID == 0 {
		t.Errorf("shown %+v, want the lock and the message", r)
	}
	if n := len(readPids(t, pids)); n != 1 {
		t.Errorf("%d helpers for two changes, want 1 fed twice", n)
	}

	// Killed: started again at once, reported.
	pid := s.helperPID("4")
	done := s.helperDone("4")
	kill9(t, pid)
	<-done
	testbin.WaitFor(t, 10*time.Second, "restart", func() bool { p := s.helperPID("4"); return p != 0 && p != pid && s.onScreen("4") })
	if r, _ := s.Shown("4"); !r.Lock || r.MsgID == 0 {
		t.Errorf("after the restart the helper shows %+v, want the same state", r)
	}
	if sink.Count(protocol.EventHelperRestarted) != 1 {
		t.Errorf("events %s", sink)
	}

	// Nothing left to show: the helper is asked to go and is not restarted.
	done = s.helperDone("4")
	if err := s.Lock(ctx, tg, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Shown("4"); !ok {
		t.Fatal("message still wanted, but no helper")
	}
	s.End("4")
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("helper still running after End")
	}
	if _, ok := s.Shown("4"); ok || sink.Count(protocol.EventHelperRestarted) != 1 {
		t.Error("helper restarted after End")
	}
}

func TestDismissClearsTheMessage(t *testing.T) {
	start, pids := fakeStarter(t, "dismiss")
	s := NewSupervisor(Options{Log: testLogger(t), Start: start})
	runSupervisor(t, s, &eventrec.Recorder{})
	if err := s.Message(context.Background(), fakeTarget(), "hello"); err != nil {
		t.Fatal(err)
	}
	// Dismissed at once: nothing left, so the helper goes and stays gone.
	testbin.WaitFor(t, 10*time.Second, "helper gone", func() bool { _, ok := s.Shown("4"); return !ok && s.helperPID("4") == 0 })
	if n := len(readPids(t, pids)); n != 1 {
		t.Errorf("%d helpers started, want 1", n)
	}
}

func TestStoppedHelperIsReplaced(t *testing.T) {
	start, _ := fakeStarter(t, "mute")
	s := NewSupervisor(Options{Log: testLogger(t), Start: start, ReadyTimeout: 300 * time.Millisecond, Stale: 400 * time.Millisecond})
	sink := &eventrec.Recorder{}
	runSupervisor(t, s, sink)
	err := s.Lock(context.Background(), fakeTarget(), true)
	if err == nil {
		t.Fatal("Lock succeeded with a helper that never reports")
	}
	testbin.WaitFor(t, 10*time.Second, "watchdog restart", func() bool { return sink.Count(protocol.EventHelperRestarted) > 0 })
	// "(signal: killed)" on Unix, "(exit status 1)" on Windows.
	if ev := sink.Last(); !strings.HasPrefix(ev.Data["exit"], "stopped answering (") {
		t.Errorf("event %+v", ev)
	}
}

func TestCrashLoopIsPacedAndRateLimited(t *testing.T) {
	start, _ := fakeStarter(t, "crash")
	var mu sync.Mutex
	var starts []time.Time
	timed := func(tg Target) (*exec.Cmd, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return start(tg)
	}
	s := NewSupervisor(Options{Log: testLogger(t), Start: timed, ReadyTimeout: 200 * time.Millisecond})
	sink := &eventrec.Recorder{}
	runSupervisor(t, s, sink)
	if err := s.Lock(context.Background(), fakeTarget(), true); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Lock with a crashing helper: %v", err)
	}
	// It keeps trying: 3 at once, then one a second. Load can only make the
	// gaps longer, so only their lower bound is checked.
	testbin.WaitFor(t, 10*time.Second, "six starts of a crashing helper", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts) >= 6 })
	mu.Lock()
	defer mu.Unlock()
	for i := 3; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 900*time.Millisecond {
			t.Errorf("start %d came %v after the one before; a crash loop is paced at 1 s", i+1, gap)
		}
	}
	if c := sink.Count(protocol.EventHelperRestarted); c > eventsLimit {
		t.Errorf("%d events, limit %d", c, eventsLimit)
	}
}

func TestStarterFailureIsAnError(t *testing.T) {
	s := NewSupervisor(Options{Log: testLogger(t), Start: func(Target) (*exec.Cmd, error) { return nil, ErrNotImplemented }})
	runSupervisor(t, s, &eventrec.Recorder{})
	if err := s.Lock(context.Background(), fakeTarget(), true); !errors.Is(err, ErrNotImplemented) {
		t.Fatalf("Lock: %v", err)
	}
}

func TestCountdownRunsOut(t *testing.T) {
	start, _ := fakeStarter(t, "")
	s := NewSupervisor(Options{Log: testLogger(t), Start: start})
	runSupervisor(t, s, &eventrec.Recorder{})
	if err := s.Countdown(context.Background(), fakeTarget(), time.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// Removed by itself a few seconds after its end.
	testbin.WaitFor(t, 10*time.Second, "countdown removed", func() bool { return s.helperPID("4") == 0 })
	if err := s.Countdown(context.Background(), fakeTarget(), time.Now().Add(time.Hour)); err == nil {
		t.Error("an hour-long countdown accepted")
	}
}

func TestRunStopsHelpers(t *testing.T) {
	before := runtime.NumGoroutine()
	start, _ := fakeStarter(t, "")
	s := NewSupervisor(Options{Log: testLogger(t), Start: start})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx, &eventrec.Recorder{}) }()
	testbin.WaitFor(t, 10*time.Second, "running", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.running })
	if err := s.Lock(context.Background(), fakeTarget(), true); err != nil {
		t.Fatal(err)
	}
	done := s.helperDone("4")
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	default:
		t.Fatal("Run returned with a helper still running")
	}
	// Every goroutine of every helper has ended (a leak check).
	testbin.WaitFor(t, 10*time.Second, "goroutines back to the start", func() bool { return runtime.NumGoroutine() <= before })
}
