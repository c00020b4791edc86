//go:build linux

package session

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
	"github.com/carrel-kiosk/carrel/internal/testrig/xvfb"
)

// noEndController is the real Linux controller except that Terminate and
// HoldLogons only record: the test must never end a session or expire an
// account of the machine it runs on.
type noEndController struct {
	*linuxController
	terminated chan string
}

func (c noEndController) HoldLogons(context.Context, []string, bool) error { return nil }

func (c noEndController) Terminate(ctx context.Context, s Session) error {
	c.terminated <- s.ID
	return nil
}

var quietXGB sync.Once

// startXvfb starts an Xvfb that accepts any local client (-ac: the helper runs
// as a throwaway uid without a cookie) and connects to it.
func startXvfb(t *testing.T) (display string, c *xgb.Conn) {
	t.Helper()
	display = xvfb.Start(t, "800x600x24", "-ac")
	var err error
	quietXGB.Do(func() { xgb.Logger = log.New(io.Discard, "", 0) })
	c, err = xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return display, c
}

// topCovers reports whether the topmost viewable window covers the root, and
// how many windows are viewable.
func topCovers(t *testing.T, c *xgb.Conn) (covers bool, viewable int, top xproto.Rectangle) {
	t.Helper()
	scr := xproto.Setup(c).DefaultScreen(c)
	tree, err := xproto.QueryTree(c, scr.Root).Reply()
	if err != nil {
		t.Fatal(err)
	}
	first := true
	for i := len(tree.Children) - 1; i >= 0; i-- {
		a, err := xproto.GetWindowAttributes(c, tree.Children[i]).Reply()
		if err != nil || a.MapState != xproto.MapStateViewable {
			continue
		}
		viewable++
		if first {
			first = false
			g, err := xproto.GetGeometry(c, xproto.Drawable(tree.Children[i])).Reply()
			if err != nil {
				continue
			}
			top = xproto.Rectangle{X: g.X, Y: g.Y, Width: g.Width, Height: g.Height}
			covers = g.X == 0 && g.Y == 0 && g.Width == scr.WidthInPixels && g.Height == scr.HeightInPixels
		}
	}
	return covers, viewable, top
}

// pidsOfUID lists the processes of uid.
func pidsOfUID(uid uint32) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if fi, err := os.Stat("/proc/" + e.Name()); err == nil && fi.Sys().(*syscall.Stat_t).Uid == uid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestControllerOverlayUnderXvfb drives the real Manager and the real Linux
// controller against an X11 session on Xvfb: lock shows the overlay (the
// helper runs as the patron's uid), a killed helper comes back and is
// reported, unlock removes it, end-session with grace shows the countdown
// first.
func TestControllerOverlayUnderXvfb(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the helper is started as the patron's uid")
	}
	display, xc := startXvfb(t)
	// The patron: a uid no account and no process has, so the test can look
	// its helper up by uid; the account lookup is faked, nothing is created.
	uid := uint32(0)
	for u := 440000 + os.Getpid()%30000; u < 480000; u++ {
		if _, err := user.LookupId(strconv.Itoa(u)); err != nil && len(pidsOfUID(uint32(u))) == 0 {
			uid = uint32(u)
			break
		}
	}
	if uid == 0 {
		t.Fatal("no free uid")
	}
	// The helper binary (this test binary) where that uid can run it.
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "carrel-agent")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	log := testLogger(t)
	lc := newLinuxController(log, overlay.Options{Log: log, Start: overlay.HelperCommand(exe, overlay.HelperArg)})
	lc.lookupID = func(id string) (*user.User, error) {
		if id != strconv.Itoa(int(uid)) {
			return nil, fmt.Errorf("unknown uid %s", id)
		}
		return &user.User{Uid: id, Gid: id, Username: "patron1", HomeDir: "/nonexistent"}, nil
	}
	ctl := noEndController{linuxController: lc, terminated: make(chan string, 4)}
	sess := Session{ID: "5", User: "patron1", UID: strconv.Itoa(int(uid)), Type: "x11", Display: display, Since: t0}
	w := newFakeWatcher(sess)
	sink := &eventrec.Recorder{}
	m, err := New(Options{Config: testConfig(), Log: log, Watcher: w, Wiper: newFakeWiper(), Controller: ctl,
		Power: &fakePower{}, Sink: sink, StateDir: winetest.TempDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if p := pidsOfUID(uid); len(p) > 0 {
			t.Errorf("helper processes left after Run: %v", p)
		}
	})
	recv(t, w.runs, "watcher run")

	cmdCtx, cmdCancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cmdCancel()
	out, err := m.Lock(cmdCtx, nil)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	t.Logf("lock: %s", out)
	testbin.WaitFor(t, 10*time.Second, "overlay covering the screen", func() bool { c, _, _ := topCovers(t, xc); return c })
	helpers := pidsOfUID(uid)
	if len(helpers) != 1 {
		t.Fatalf("%d processes of the patron's uid, want the helper only", len(helpers))
	}

	// The patron kills the helper: it is back within 2 s, reported.
	killed := time.Now()
	if err := syscall.Kill(helpers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 10*time.Second, "a new helper", func() bool {
		p := pidsOfUID(uid)
		return len(p) == 1 && p[0] != helpers[0]
	})
	testbin.WaitFor(t, 10*time.Second, "overlay back", func() bool { c, _, _ := topCovers(t, xc); return c })
	if d := time.Since(killed); d > 2*time.Second {
		t.Errorf("overlay back %s after the kill, want < 2s", d)
	}
	testbin.WaitFor(t, 10*time.Second, "restart event", func() bool {
		for _, e := range sink.All() {
			if e.Kind == protocol.EventHelperRestarted && e.Sev == protocol.SeverityWarn && e.Data["session"] == "5" && e.Data["exit"] != "" {
				return true
			}
		}
		return false
	})

	if _, err := m.Message(cmdCtx, map[string]string{"text": "Please come to the desk."}); err != nil {
		t.Fatalf("message: %v", err)
	}

	// Unlock: the message is still there (not dismissed), the lock goes.
	if _, err := m.Unlock(cmdCtx, nil); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	testbin.WaitFor(t, 10*time.Second, "only the message box left", func() bool { c, n, _ := topCovers(t, xc); return !c && n == 1 })
	lc.Ended(sess) // as after a logoff: the helper goes
	testbin.WaitFor(t, 10*time.Second, "helper gone", func() bool { return len(pidsOfUID(uid)) == 0 })

	// end-session with a grace period: the countdown strip, then the end.
	m.sleep = func(ctx context.Context, d time.Duration) error {
		testbin.WaitFor(t, 10*time.Second, "countdown strip", func() bool {
			_, n, top := topCovers(t, xc)
			return n == 1 && top.Y == 0 && top.Height < 100 && top.Width > 700
		})
		return nil
	}
	if _, err := m.EndSession(cmdCtx, map[string]string{"grace": "20"}); err != nil {
		t.Fatalf("end-session: %v", err)
	}
	if id := recv(t, ctl.terminated, "terminate"); id != "5" {
		t.Fatalf("terminated %s", id)
	}
	w.events <- Event{Kind: Logoff, Session: sess}
	testbin.WaitFor(t, 10*time.Second, "helper gone after logoff", func() bool { return len(pidsOfUID(uid)) == 0 })
}
