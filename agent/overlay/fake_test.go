package overlay

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

const fakeHelperArg = "fake-session-helper"

// fakeHelper speaks the helper's protocol without a display. FAKE_MODE:
//
//	""       ready for each command, alive every 100 ms
//	"mute"   reads commands, never reports (a stopped helper)
//	"crash"  exits 3 at once
//	"dismiss" as "", and dismisses every message at once
//	"nograb" as "", but a lock it shows never grabs the keyboard and pointer
//
// FAKE_PIDS, if set, is a file each start appends its pid to.
func fakeHelper() int {
	if f := os.Getenv("FAKE_PIDS"); f != "" {
		fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
		if err == nil {
			fh.WriteString(strconv.Itoa(os.Getpid()) + "\n")
			fh.Close()
		}
	}
	mode := os.Getenv("FAKE_MODE")
	if mode == "crash" {
		return 3
	}
	h := &helperIO{cmds: make(chan Command, 1), eof: make(chan struct{}), out: os.Stdout, errw: os.Stderr}
	go h.read(os.Stdin)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var cur Command
	for {
		select {
		case <-h.eof:
			return 0
		case c := <-h.cmds:
			if c.Empty() {
				return 0
			}
			cur = c
			if mode == "mute" {
				continue
			}
			h.report(Report{T: ReportReady, Seq: c.Seq, Lock: c.Lock, MsgID: c.MsgID, Countdown: -1, Grabbed: c.Lock && mode != "nograb", Windows: fakeWindows(c)})
			if mode == "dismiss" && c.MsgID != 0 {
				h.report(Report{T: ReportDismissed, MsgID: c.MsgID, Countdown: -1})
			}
		case <-tick.C:
			if mode != "mute" {
				h.report(Report{T: ReportAlive, Seq: cur.Seq, Lock: cur.Lock, MsgID: cur.MsgID, Countdown: -1, Grabbed: cur.Lock && mode != "nograb", Windows: fakeWindows(cur)})
			}
		}
	}
}

// fakeWindows is the windows the fake maps for c: one for the lock.
func fakeWindows(c Command) int {
	if c.Lock {
		return 1
	}
	return 0
}

// fakeStarter runs the fake helper with mode.
func fakeStarter(t *testing.T, mode string) (Starter, string) {
	pids := filepath.Join(winetest.TempDir(t), "pids")
	return func(tg Target) (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0], fakeHelperArg)
		cmd.Env = []string{"FAKE_MODE=" + mode, "FAKE_PIDS=" + pids}
		return cmd, nil
	}, pids
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// runSupervisor runs s until the test ends.
func runSupervisor(t *testing.T, s *Supervisor, sink EventSink) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	testbin.WaitFor(t, 10*time.Second, "supervisor running", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.running
	})
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// helperPID is the pid of the session's live helper, or 0.
func (s *Supervisor) helperPID(session string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.seats[session]; st != nil && st.proc != nil {
		return st.proc.hp.Pid()
	}
	return 0
}

// onScreen reports whether the session's live helper has its latest state on screen.
func (s *Supervisor) onScreen(session string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.seats[session]
	return st != nil && st.proc != nil && st.shown == st.want.Seq
}

// helperDone returns a channel closed when the session's current helper exits.
func (s *Supervisor) helperDone(session string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.seats[session]; st != nil && st.proc != nil {
		return st.proc.done
	}
	c := make(chan struct{})
	close(c)
	return c
}

// kill9 kills a helper the way a patron would.
func kill9(t *testing.T, pid int) {
	t.Helper()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
}
