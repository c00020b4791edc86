//go:build windows

package session

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// The controller's lock, countdown and messages through the real session
// helper (this test binary, which TestMain runs as `session-helper`) and the
// real launcher (WTSQueryUserToken, CreateProcessAsUser), under Wine on the X
// display .ci/wine/gotest.sh starts. Wine has one session, whose user is this
// process's; a patron's session on real Windows is not run here.

// Window classes of the helper (agent/overlay).
const (
	lockClass  = "CarrelLock"
	stripClass = "CarrelCountdown"
	boxClass   = "CarrelMessage"
)

var (
	user32           = windows.NewLazySystemDLL("user32.dll")
	procFindWindowEx = user32.NewProc("FindWindowExW")
)

// shown reports whether a helper this process started shows a window of
// class (other test binaries may have helpers on the same desktop).
func shown(class string) bool {
	name := windows.StringToUTF16Ptr(class)
	var w uintptr
	for {
		w, _, _ = procFindWindowEx.Call(0, w, uintptr(unsafe.Pointer(name)), 0)
		if w == 0 {
			return false
		}
		var pid uint32
		if _, err := windows.GetWindowThreadProcessId(windows.HWND(w), &pid); err == nil &&
			windows.IsWindowVisible(windows.HWND(w)) && parentOf(pid) == uint32(os.Getpid()) {
			return true
		}
	}
}

// parentOf returns the id of pid's parent process, or 0.
func parentOf(pid uint32) uint32 {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return 0
	}
	defer windows.CloseHandle(snap)
	e := windows.ProcessEntry32{Size: uint32(unsafe.Sizeof(windows.ProcessEntry32{}))}
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		if e.ProcessID == pid {
			return e.ParentProcessID
		}
	}
	return 0
}

// thisSession is this process's session, as the watcher would report it.
func thisSession(t *testing.T) Session {
	t.Helper()
	var id uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &id); err != nil {
		t.Fatal(err)
	}
	if id == 0 {
		t.Skip("this test runs in session 0, which has no desktop")
	}
	return Session{ID: strconv.FormatUint(uint64(id), 10), User: "patron"}
}

// testController is the Windows controller with its helpers running.
func testController(t *testing.T, s Session, start overlay.Starter, log *slog.Logger) *wtsController {
	t.Helper()
	c := newWTSController(log, overlay.Options{Log: log, Start: start})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.runHelpers(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("helpers: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("helpers still running 10 s after the end")
		}
	})
	// Run has started when a show call no longer says ErrNotRunning.
	waitUntil(t, "helpers running", func() bool {
		return !errors.Is(c.overlay.Lock(context.Background(), overlay.Target{Session: s.ID}, false), overlay.ErrNotRunning)
	})
	return c
}

// launcher is the real launcher; under Wine the helper also gets DISPLAY,
// which Wine reads from the environment (CreateEnvironmentBlock builds the
// patron's from the registry).
func launcher() overlay.Starter {
	start := overlay.HelperCommand("", overlay.HelperArg)
	if !winetest.Under() {
		return start
	}
	return func(tg overlay.Target) (*exec.Cmd, error) {
		cmd, err := start(tg)
		if err == nil {
			cmd.Env = append(cmd.Env, "DISPLAY="+os.Getenv("DISPLAY"))
		}
		return cmd, err
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWindowsLockCountdownMessage(t *testing.T) {
	winetest.Desktop(t)
	s := thisSession(t)
	c := testController(t, s, launcher(), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	ctx := context.Background()

	if err := c.LockSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if !shown(lockClass) {
		t.Fatal("no lock screen after LockSession")
	}
	// While the helper runs, a message is drawn by it, on the lock screen.
	if err := c.Message(ctx, s, "Back in 5 minutes & then we close."); err != nil {
		t.Fatal(err)
	}
	if r, ok := c.overlay.Shown(s.ID); !ok || !r.Lock || r.MsgID == 0 {
		t.Errorf("helper shows %+v (running: %v), want the lock with the message", r, ok)
	}
	if err := c.UnlockSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the lock gone, the message in its box", func() bool { return !shown(lockClass) && shown(boxClass) })

	// The countdown before end-session: the strip.
	if err := c.Countdown(ctx, s, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !shown(stripClass) {
		t.Error("no countdown strip")
	}
	if r, _ := c.overlay.Shown(s.ID); r.Countdown < 58 {
		t.Errorf("helper shows %+v, want a countdown of about 60 s", r)
	}

	// The session ended: the helper goes and does not come back.
	c.Ended(s)
	waitUntil(t, "the helper's windows gone", func() bool { return !shown(stripClass) && !shown(boxClass) })
	if _, ok := c.overlay.Shown(s.ID); ok {
		t.Error("a helper still runs for an ended session")
	}
}

// TestWindowsLockFallsBackToDisconnect: with no helper, the session is
// disconnected instead (WTSDisconnectSession is replaced here: it would take
// this very session off the screen on Windows, and is a stub under Wine).
func TestWindowsLockFallsBackToDisconnect(t *testing.T) {
	s := Session{ID: "7", User: "patron"}
	broken := func(overlay.Target) (*exec.Cmd, error) { return nil, errors.New("no token for this session") }
	var logs syncBuffer
	c := testController(t, s, broken, slog.New(slog.NewTextHandler(&logs, nil)))
	var disconnected []uint32
	c.disconnect = func(id uint32) error { disconnected = append(disconnected, id); return nil }
	if err := c.LockSession(context.Background(), s); err != nil {
		t.Fatalf("LockSession with a broken helper: %v", err)
	}
	if len(disconnected) != 1 || disconnected[0] != 7 {
		t.Errorf("disconnected %v, want session 7", disconnected)
	}
	if !strings.Contains(logs.String(), "no token for this session") {
		t.Errorf("the helper's failure is not in the log:\n%s", logs.String())
	}
	// Both failing: the lock failed, and says why twice.
	c.disconnect = func(uint32) error { return windows.ERROR_ACCESS_DENIED }
	if err := c.LockSession(context.Background(), s); err == nil || !strings.Contains(err.Error(), "no token") || !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		t.Errorf("LockSession with nothing working: %v", err)
	}
	if err := c.UnlockSession(context.Background(), s); err != nil {
		t.Errorf("UnlockSession: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
