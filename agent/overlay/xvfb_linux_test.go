//go:build linux

package overlay

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/xvfb"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/jezek/xgb/xtest"
)

var quietXGB sync.Once

// xserver is an Xvfb started for one test, and the test's own connection to it.
type xserver struct {
	t       *testing.T
	display string
	c       *xgb.Conn
	root    xproto.Window
	w, h    int
}

// startXvfb starts Xvfb on a display number it picks itself (-displayfd), or
// skips the test when Xvfb is not installed. extra are more Xvfb arguments.
func startXvfb(t *testing.T, extra ...string) *xserver {
	t.Helper()
	display := xvfb.Start(t, "1024x768x24", extra...)
	var err error
	quietXGB.Do(func() { xgb.Logger = log.New(io.Discard, "", 0) })
	x := &xserver{t: t, display: display}
	x.c, err = xgb.NewConnDisplay(x.display)
	if err != nil {
		t.Fatalf("connect to Xvfb %s: %v", x.display, err)
	}
	t.Cleanup(x.c.Close)
	scr := xproto.Setup(x.c).DefaultScreen(x.c)
	x.root, x.w, x.h = scr.Root, int(scr.WidthInPixels), int(scr.HeightInPixels)
	return x
}

// top returns the topmost child of the root and its state.
type winInfo struct {
	id         xproto.Window
	viewable   bool
	override   bool
	x, y, w, h int
}

func (x *xserver) top() (winInfo, bool) {
	tree, err := xproto.QueryTree(x.c, x.root).Reply()
	if err != nil {
		x.t.Fatalf("QueryTree: %v", err)
	}
	// Children are in stacking order, bottom first: the topmost viewable wins.
	for i := len(tree.Children) - 1; i >= 0; i-- {
		w := tree.Children[i]
		a, err := xproto.GetWindowAttributes(x.c, w).Reply()
		if err != nil || a.MapState != xproto.MapStateViewable {
			continue
		}
		g, err := xproto.GetGeometry(x.c, xproto.Drawable(w)).Reply()
		if err != nil {
			continue
		}
		return winInfo{id: w, viewable: true, override: a.OverrideRedirect, x: int(g.X), y: int(g.Y), w: int(g.Width), h: int(g.Height)}, true
	}
	return winInfo{}, false
}

// viewable counts the viewable children of the root.
func (x *xserver) viewable() int {
	tree, err := xproto.QueryTree(x.c, x.root).Reply()
	if err != nil {
		x.t.Fatalf("QueryTree: %v", err)
	}
	n := 0
	for _, w := range tree.Children {
		if a, err := xproto.GetWindowAttributes(x.c, w).Reply(); err == nil && a.MapState == xproto.MapStateViewable {
			n++
		}
	}
	return n
}

// image reads a rectangle of the root as it is on screen (24-bit pixels).
type image struct {
	w, h int
	px   []uint32
}

func (x *xserver) image(rx, ry, w, h int) image {
	rep, err := xproto.GetImage(x.c, xproto.ImageFormatZPixmap, xproto.Drawable(x.root), int16(rx), int16(ry), uint16(w), uint16(h), 0xffffffff).Reply()
	if err != nil {
		x.t.Fatalf("GetImage: %v", err)
	}
	im := image{w: w, h: h, px: make([]uint32, w*h)}
	if len(rep.Data) < 4*w*h {
		x.t.Fatalf("GetImage: %d bytes for %dx%d", len(rep.Data), w, h)
	}
	for i := range im.px {
		im.px[i] = binary.LittleEndian.Uint32(rep.Data[4*i:]) & 0xffffff
	}
	return im
}

func (im image) at(x, y int) uint32 { return im.px[y*im.w+x] }

// share returns the fraction of pixels equal to p.
func (im image) share(p uint32) float64 {
	n := 0
	for _, v := range im.px {
		if v == p {
			n++
		}
	}
	return float64(n) / float64(len(im.px))
}

func (im image) equal(o image) bool {
	if len(im.px) != len(o.px) {
		return false
	}
	for i := range im.px {
		if im.px[i] != o.px[i] {
			return false
		}
	}
	return true
}

// pixel is the server's pixel for an RGB colour (as the helper allocates it).
func (x *xserver) pixel(rgb uint32) uint32 {
	c16 := func(shift uint) uint16 { v := uint16(rgb>>shift) & 0xff; return v<<8 | v }
	scr := xproto.Setup(x.c).DefaultScreen(x.c)
	rep, err := xproto.AllocColor(x.c, scr.DefaultColormap, c16(16), c16(8), c16(0)).Reply()
	if err != nil {
		x.t.Fatalf("AllocColor: %v", err)
	}
	return rep.Pixel & 0xffffff
}

// keyboardGrabbed reports whether another client holds the keyboard.
func (x *xserver) keyboardGrabbed() bool {
	rep, err := xproto.GrabKeyboard(x.c, false, x.root, xproto.TimeCurrentTime, xproto.GrabModeAsync, xproto.GrabModeAsync).Reply()
	if err != nil {
		x.t.Fatalf("GrabKeyboard: %v", err)
	}
	if rep.Status == xproto.GrabStatusSuccess {
		xproto.UngrabKeyboard(x.c, xproto.TimeCurrentTime)
		return false
	}
	return rep.Status == xproto.GrabStatusAlreadyGrabbed
}

// click moves the pointer to (px, py) and clicks button 1, through XTEST.
func (x *xserver) click(px, py int) {
	if err := xtest.Init(x.c); err != nil {
		x.t.Fatalf("XTEST: %v", err)
	}
	for _, ev := range []struct {
		typ, detail byte
	}{{xproto.MotionNotify, 0}, {xproto.ButtonPress, 1}, {xproto.ButtonRelease, 1}} {
		if err := xtest.FakeInputChecked(x.c, ev.typ, ev.detail, 0, x.root, int16(px), int16(py), 0).Check(); err != nil {
			x.t.Fatalf("XTEST FakeInput: %v", err)
		}
	}
}

// key presses and releases the key that makes keysym, through XTEST.
func (x *xserver) key(keysym xproto.Keysym) {
	if err := xtest.Init(x.c); err != nil {
		x.t.Fatalf("XTEST: %v", err)
	}
	setup := xproto.Setup(x.c)
	count := int(setup.MaxKeycode) - int(setup.MinKeycode) + 1
	rep, err := xproto.GetKeyboardMapping(x.c, setup.MinKeycode, byte(count)).Reply()
	if err != nil {
		x.t.Fatal(err)
	}
	per := int(rep.KeysymsPerKeycode)
	for i, ks := range rep.Keysyms {
		if ks == keysym {
			code := byte(int(setup.MinKeycode) + i/per)
			for _, typ := range []byte{xproto.KeyPress, xproto.KeyRelease} {
				if err := xtest.FakeInputChecked(x.c, typ, code, 0, x.root, 0, 0, 0).Check(); err != nil {
					x.t.Fatalf("XTEST FakeInput: %v", err)
				}
			}
			return
		}
	}
	x.t.Fatalf("no key for keysym %#x", keysym)
}

// coverWindow maps an override-redirect window of colour rgb over the whole
// screen on top of everything: another client trying to hide the overlay.
func (x *xserver) coverWindow(rgb uint32) xproto.Window {
	scr := xproto.Setup(x.c).DefaultScreen(x.c)
	w, err := xproto.NewWindowId(x.c)
	if err != nil {
		x.t.Fatal(err)
	}
	err = xproto.CreateWindowChecked(x.c, scr.RootDepth, w, x.root, 0, 0, uint16(x.w), uint16(x.h), 0, xproto.WindowClassInputOutput,
		scr.RootVisual, xproto.CwBackPixel|xproto.CwOverrideRedirect, []uint32{x.pixel(rgb), 1}).Check()
	if err != nil {
		x.t.Fatal(err)
	}
	xproto.MapWindow(x.c, w)
	xproto.ConfigureWindow(x.c, w, xproto.ConfigWindowStackMode, []uint32{xproto.StackModeAbove})
	return w
}

// realSupervisor runs the real helper (this test binary started as
// `session-helper`, like carrel-agent) through the real Starter.
func realSupervisor(t *testing.T, exe string) (*Supervisor, *eventrec.Recorder) {
	if exe == "" {
		exe = os.Args[0]
	}
	s := NewSupervisor(Options{Log: testLogger(t), Start: HelperCommand(exe, HelperArg)})
	sink := &eventrec.Recorder{}
	runSupervisor(t, s, sink)
	return s, sink
}

func self(x *xserver) Target {
	return Target{Session: "7", UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), Display: x.display}
}

// waitLockShown waits until the topmost window covers the root and shows the
// lock colour in its corners and centre, and returns the window.
func (x *xserver) waitLockShown(notID xproto.Window, within time.Duration) (xproto.Window, time.Duration) {
	x.t.Helper()
	bg := x.pixel(lockBG)
	start := time.Now()
	for {
		if w, ok := x.top(); ok && w.id != notID && w.override && w.x == 0 && w.y == 0 && w.w == x.w && w.h == x.h {
			im := x.image(0, 0, x.w, x.h)
			if im.at(0, 0) == bg && im.at(x.w-1, x.h-1) == bg && im.at(x.w/2, x.h-10) == bg {
				return w.id, time.Since(start)
			}
		}
		if time.Since(start) > within {
			w, _ := x.top()
			x.t.Fatalf("lock screen not on top within %s (top window: %+v)", within, w)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOverlayUnderXvfb(t *testing.T) {
	x := startXvfb(t)
	s, sink := realSupervisor(t, "")
	tg := self(x)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("lock covers the screen, on top, with the grabs", func(t *testing.T) {
		if err := s.Lock(ctx, tg, true); err != nil {
			t.Fatal(err)
		}
		id, _ := x.waitLockShown(0, 5*time.Second)
		testbin.WaitFor(t, 10*time.Second, "the lock screen drawn (> 90% lock colour, and text)", func() bool {
			im := x.image(0, 0, x.w, x.h)
			return im.share(x.pixel(lockBG)) > 0.9 && im.share(x.pixel(textFG)) > 0
		})
		testbin.WaitFor(t, 10*time.Second, "keyboard grab", x.keyboardGrabbed)
		testbin.WaitFor(t, 10*time.Second, "grab reported", func() bool { r, ok := s.Shown(tg.Session); return ok && r.Lock && r.Grabbed })

		// Another client covers the screen: the helper raises itself again.
		cover := x.coverWindow(0xff0000)
		start := time.Now()
		if got, _ := x.waitLockShown(cover, 2*time.Second); got != id {
			t.Errorf("top window %d after the cover, want the overlay %d", got, id)
		}
		t.Logf("re-raised over another client's window in %s", time.Since(start).Round(time.Millisecond))
		xproto.DestroyWindow(x.c, cover)
		// Another client unmaps the overlay: it maps itself again.
		xproto.UnmapWindow(x.c, id)
		x.waitLockShown(0, 2*time.Second)
	})

	t.Run("killed helper is back within 2 s and reported", func(t *testing.T) {
		const kills = 10
		before := sink.Count(protocol.EventHelperRestarted)
		var took []time.Duration
		for i := 0; i < kills; i++ {
			pid := s.helperPID(tg.Session)
			if pid == 0 {
				t.Fatal("no helper running")
			}
			done := s.helperDone(tg.Session)
			killed := time.Now()
			if err := syscallKill(pid); err != nil {
				t.Fatal(err)
			}
			<-done
			// X reuses a dead client's ids: the new helper is told apart by
			// its pid and its ready report, then checked on screen.
			testbin.WaitFor(t, 10*time.Second, "a new helper on screen", func() bool {
				p := s.helperPID(tg.Session)
				return p != 0 && p != pid && s.onScreen(tg.Session)
			})
			x.waitLockShown(0, 2*time.Second)
			d := time.Since(killed)
			if d > 2*time.Second {
				t.Errorf("kill %d: lock back after %s, want < 2s", i, d)
			}
			took = append(took, d)
			testbin.WaitFor(t, 10*time.Second, "keyboard grabbed again", x.keyboardGrabbed)
		}
		if got := sink.Count(protocol.EventHelperRestarted) - before; got != kills {
			t.Errorf("%d %s events for %d kills", got, protocol.EventHelperRestarted, kills)
		}
		ev := sink.Last()
		if ev.Kind != protocol.EventHelperRestarted || ev.Data["session"] != tg.Session || ev.Data["exit"] != "signal: killed" || ev.Sev != protocol.SeverityWarn {
			t.Errorf("last event %+v", ev)
		}
		for k := range ev.Data {
			if k != "session" && k != "exit" {
				t.Errorf("event carries %q", k)
			}
		}
		p50, worst := stats(took)
		t.Logf("kill -9 → lock screen on top again, %d kills: p50 %s, max %s", kills, p50, worst)
	})

	t.Run("message while locked is dismissed by a key", func(t *testing.T) {
		if err := s.Message(ctx, tg, "Your time is up in <b>five</b> minutes %s\nSecond line"); err != nil {
			t.Fatal(err)
		}
		r, _ := s.Shown(tg.Session)
		if r.MsgID == 0 {
			t.Fatal("message not reported shown")
		}
		x.key(0xff0d) // Return
		testbin.WaitFor(t, 10*time.Second, "message dismissed", func() bool {
			r, ok := s.Shown(tg.Session)
			return ok && r.MsgID == 0 && r.Lock
		})
	})

	t.Run("unlock removes the overlay and the helper exits", func(t *testing.T) {
		done := s.helperDone(tg.Session)
		if err := s.Lock(ctx, tg, false); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("helper still running after unlock")
		}
		if n := x.viewable(); n != 0 {
			t.Errorf("%d windows still mapped after unlock", n)
		}
		if x.keyboardGrabbed() {
			t.Error("keyboard still grabbed after unlock")
		}
	})

	t.Run("countdown strip counts down", func(t *testing.T) {
		if err := s.Countdown(ctx, tg, time.Now().Add(6*time.Second)); err != nil {
			t.Fatal(err)
		}
		w, ok := x.top()
		if !ok || w.y != 0 || w.w != x.w || w.h >= x.h/4 {
			t.Fatalf("countdown window %+v, want a strip across the top", w)
		}
		if x.keyboardGrabbed() {
			t.Error("a countdown must not take the keyboard (the patron saves their work)")
		}
		var first image
		testbin.WaitFor(t, 10*time.Second, "the countdown strip drawn (strip colour and text pixels)", func() bool {
			first = x.image(0, 0, w.w, w.h)
			return first.share(x.pixel(stripBG)) >= 0.5 && first.share(x.pixel(textFG)) > 0
		})
		r0, _ := s.Shown(tg.Session)
		testbin.WaitFor(t, 10*time.Second, "countdown to move", func() bool { r, _ := s.Shown(tg.Session); return r.Countdown >= 0 && r.Countdown < r0.Countdown })
		testbin.WaitFor(t, 10*time.Second, "countdown text to change", func() bool { return !x.image(0, 0, w.w, w.h).equal(first) })
		t.Logf("countdown went from %d s", r0.Countdown)
		done := s.helperDone(tg.Session)
		if err := s.Countdown(ctx, tg, time.Time{}); err != nil {
			t.Fatal(err)
		}
		<-done
	})

	t.Run("message box is dismissed by a click", func(t *testing.T) {
		if err := s.Message(ctx, tg, "Please come to the desk."); err != nil {
			t.Fatal(err)
		}
		w, ok := x.top()
		if !ok || w.w >= x.w || w.x <= 0 || w.y <= 0 {
			t.Fatalf("message window %+v, want a centred box", w)
		}
		// Mapped is not drawn yet: the helper paints on Expose, which may come
		// after it reported the state shown.
		testbin.WaitFor(t, 10*time.Second, "the message box drawn (box colour and text pixels)", func() bool {
			im := x.image(w.x, w.y, w.w, w.h)
			return im.share(x.pixel(boxBG)) >= 0.5 && im.share(x.pixel(boxFG)) > 0
		})
		done := s.helperDone(tg.Session)
		x.click(w.x+w.w/2, w.y+w.h/2)
		select {
		case <-done: // dismissed → nothing left to show → the helper went
		case <-time.After(5 * time.Second):
			t.Fatal("message not dismissed by the click")
		}
		if n := x.viewable(); n != 0 {
			t.Errorf("%d windows mapped after the dismissal", n)
		}
	})
}

func stats(d []time.Duration) (p50, worst time.Duration) {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond)
}

// TestHelperRunsAsThePatron starts the helper for a throwaway uid (root only):
// it runs with that uid, no supplementary groups, only DISPLAY in its
// environment, and non-dumpable.
func TestHelperRunsAsThePatron(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a helper as another uid")
	}
	x := startXvfb(t, "-ac") // the throwaway uid has no X cookie
	// The throwaway uid must be able to run the binary: a copy in a 0755 dir.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "carrel-agent")
	copyFile(t, os.Args[0], exe)
	uid := freeUID(t)
	s, _ := realSupervisor(t, exe)
	tg := Target{Session: "c3", UID: uid, GID: uid, Display: x.display}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Lock(ctx, tg, true); err != nil {
		t.Fatal(err)
	}
	x.waitLockShown(0, 5*time.Second)
	pid := s.helperPID(tg.Session)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Uid:":    fmt.Sprintf("%d\t%d\t%d\t%d", uid, uid, uid, uid),
		"Gid:":    fmt.Sprintf("%d\t%d\t%d\t%d", uid, uid, uid, uid),
		"Groups:": "",
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, "\t")
		if w, ok := want[k]; ok {
			if strings.TrimSpace(v) != w {
				t.Errorf("helper %s %q, want %q", k, strings.TrimSpace(v), w)
			}
			delete(want, k)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing from /proc/%d/status: %v", pid, want)
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(env); got != "DISPLAY="+x.display+"\x00" {
		t.Errorf("helper environment %q, want only DISPLAY", got)
	}
	fi, err := os.Stat(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	if statUID(fi) != 0 {
		t.Errorf("helper's /proc files owned by uid %d: it is dumpable, the patron could attach to it", statUID(fi))
	}
}

func statUID(fi os.FileInfo) uint32 { return fi.Sys().(*syscall.Stat_t).Uid }

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// freeUID picks a uid that no account and no process on this machine has.
func freeUID(t *testing.T) uint32 {
	t.Helper()
	for uid := 430000 + os.Getpid()%40000; uid < 480000; uid++ {
		if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			continue
		}
		used := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			if fi, err := os.Stat("/proc/" + e.Name()); err == nil && e.Name()[0] >= '0' && e.Name()[0] <= '9' && statUID(fi) == uint32(uid) {
				used = true
				break
			}
		}
		if !used {
			return uint32(uid)
		}
	}
	t.Fatal("no free uid between 430000 and 480000")
	return 0
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
