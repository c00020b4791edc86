//go:build windows

package overlay

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"golang.org/x/sys/windows"

	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// These tests run the real helper under Wine (and would on Windows): the test
// binary re-executed as `session-helper`, found from here by its window
// classes. Wine draws windows only with an X display: .ci/wine/gotest.sh
// starts Xvfb; without DISPLAY they are skipped.

func needDisplay(t *testing.T) { winetest.Desktop(t) }

const (
	gwlStyle   = -16
	gwlExStyle = -20
)

// testHelper is a helper process with pipes, as the Supervisor runs it.
type testHelper struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      io.WriteCloser
	reports chan Report
	exited  chan struct{} // closed when the helper has exited
	exitErr error         // cmd.Wait's, once exited is closed
	seq     uint64
}

func startTestHelper(t *testing.T) *testHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], HelperArg)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = tWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &testHelper{t: t, cmd: cmd, in: in, reports: make(chan Report, 256), exited: make(chan struct{})}
	go func() {
		lr := NewLineReader(out)
		for {
			line, err := lr.Next()
			if err != nil {
				close(h.reports)
				return
			}
			r, err := DecodeReport(line)
			if err != nil {
				t.Errorf("bad report %q: %v", line, err)
				continue
			}
			h.reports <- r
		}
	}()
	go func() {
		h.exitErr = cmd.Wait()
		close(h.exited)
	}()
	t.Cleanup(func() {
		in.Close()
		select {
		case <-h.exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-h.exited
		}
	})
	return h
}

// send writes c with the next seq and returns that seq.
func (h *testHelper) send(c Command) uint64 {
	h.t.Helper()
	h.seq++
	c.Seq = h.seq
	if _, err := h.in.Write(encodeLine(c)); err != nil {
		h.t.Fatal(err)
	}
	return h.seq
}

// await returns the first report that satisfies ok, within 10 s.
func (h *testHelper) await(what string, ok func(Report) bool) Report {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r, open := <-h.reports:
			if !open {
				h.t.Fatalf("helper stopped reporting while waiting for %s", what)
			}
			if ok(r) {
				return r
			}
		case <-timeout:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (h *testHelper) ready(seq uint64) Report {
	h.t.Helper()
	return h.await("ready "+strconv.FormatUint(seq, 10), func(r Report) bool { return r.T == ReportReady && r.Seq == seq })
}

var procFindWindowEx = moduser32.NewProc("FindWindowExW")

// windowsOf lists the top-level windows of class that belong to pid.
func windowsOf(class string, pid int) []windows.HWND {
	name := windows.StringToUTF16Ptr(class)
	var out []windows.HWND
	var w uintptr
	for {
		w, _, _ = procFindWindowEx.Call(0, w, uintptr(unsafe.Pointer(name)), 0)
		if w == 0 {
			return out
		}
		var owner uint32
		if _, err := windows.GetWindowThreadProcessId(windows.HWND(w), &owner); err == nil && int(owner) == pid {
			out = append(out, windows.HWND(w))
		}
	}
}

// window finds the visible window of class that belongs to pid.
func window(class string, pid int) windows.HWND {
	for _, w := range windowsOf(class, pid) {
		if windows.IsWindowVisible(w) {
			return w
		}
	}
	return 0
}

func rectOf(t *testing.T, w windows.HWND) windows.Rect {
	t.Helper()
	var r windows.Rect
	if err := getWindowRect(w, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

var procWindowFromPoint = moduser32.NewProc("WindowFromPoint")

// windowFromPoint is WindowFromPoint; its POINT goes by value in one register.
func windowFromPoint(x, y int32) windows.HWND {
	r, _, _ := procWindowFromPoint.Call(uintptr(uint32(x)) | uintptr(uint32(y))<<32)
	return windows.HWND(r)
}

// Inputs for SendInput (winuser.h), 64-bit layout.
type mouseInput struct {
	typ       uint32
	_         uint32
	dx, dy    int32
	mouseData uint32
	flags     uint32
	time      uint32
	extra     uintptr
}

const (
	inputMouse           = 0
	mouseeventfMove      = 0x0001
	mouseeventfLeftDown  = 0x0002
	mouseeventfLeftUp    = 0x0004
	mouseeventfAbsolute  = 0x8000
	mouseeventfVirtualDk = 0x4000
)

type keyInput struct {
	typ      uint32
	_        uint32
	vk, scan uint16
	flags    uint32
	time     uint32
	extra    uintptr
	_        [8]byte // the union is as large as a MOUSEINPUT
}

const (
	inputKeyboard  = 1
	keyeventfKeyUp = 0x0002
)

// press presses and releases a key, as a patron.
func press(t *testing.T, vk uint16) {
	t.Helper()
	in := []keyInput{{typ: inputKeyboard, vk: vk}, {typ: inputKeyboard, vk: vk, flags: keyeventfKeyUp}}
	if n, err := sendInput(uint32(len(in)), unsafe.Pointer(&in[0]), int32(unsafe.Sizeof(in[0]))); n != uint32(len(in)) {
		t.Fatalf("SendInput: %d sent: %v", n, err)
	}
}

// click clicks the left button at (x, y) on the primary screen, as a patron.
func click(t *testing.T, x, y int32) {
	t.Helper()
	p := primaryScreen()
	nx, ny := x*65535/(p.Right-1), y*65535/(p.Bottom-1)
	in := []mouseInput{
		{typ: inputMouse, dx: nx, dy: ny, flags: mouseeventfMove | mouseeventfAbsolute},
		{typ: inputMouse, dx: nx, dy: ny, flags: mouseeventfLeftDown | mouseeventfAbsolute},
		{typ: inputMouse, dx: nx, dy: ny, flags: mouseeventfLeftUp | mouseeventfAbsolute},
	}
	if n, err := sendInput(uint32(len(in)), unsafe.Pointer(&in[0]), int32(unsafe.Sizeof(in[0]))); n != uint32(len(in)) {
		t.Fatalf("SendInput: %d sent: %v", n, err)
	}
}

// styles returns a window's style and extended style.
func styles(w windows.HWND) (style, ex uint32) {
	return uint32(getWindowLong(w, gwlStyle)), uint32(getWindowLong(w, gwlExStyle))
}

func centre(r windows.Rect) (x, y int32) { return (r.Left + r.Right) / 2, (r.Top + r.Bottom) / 2 }

const (
	hwndNoTopmost = ^windows.HWND(1) // -2
	wmQuit        = 0x0012
)

func TestHelperWindows(t *testing.T) {
	needDisplay(t)
	h := startTestHelper(t)
	pid := h.cmd.Process.Pid
	vs := virtualScreen()

	// The lock: a topmost tool popup over the whole virtual screen, with the
	// keyboard hooked.
	r := h.ready(h.send(Command{Lock: true}))
	if !r.Lock || !r.Grabbed || r.Windows != 1 || r.Countdown != -1 {
		t.Errorf("ready %+v, want the lock, grabbed, one window, no countdown", r)
	}
	lock := window(lockClass, pid)
	if lock == 0 {
		t.Fatal("no visible lock window of the helper")
	}
	if got := rectOf(t, lock); got != vs {
		t.Errorf("lock covers %+v, want the virtual screen %+v", got, vs)
	}
	style, ex := styles(lock)
	if style&wsPopup == 0 || ex&wsExTopmost == 0 || ex&wsExToolWindow == 0 {
		t.Errorf("lock style %#x ex-style %#x, want WS_POPUP, WS_EX_TOPMOST|WS_EX_TOOLWINDOW", style, ex)
	}
	if x, y := centre(vs); windowFromPoint(x, y) != lock {
		t.Error("the lock is not the window under the pointer")
	}

	// What another program of the patron's could do to it does not stick.
	hideAndLower := func() {
		showWindow(lock, swHide)
		_ = setWindowPos(lock, hwndNoTopmost, 10, 10, 100, 100, swpNoActivate)
		_ = postMessage(lock, wmClose, 0, 0)
		_ = postMessage(lock, wmQuit, 0, 0)
	}
	hideAndLower()
	testbin.WaitFor(t, 10*time.Second, "the lock back on top", func() bool {
		_, ex := styles(lock)
		var got windows.Rect
		_ = getWindowRect(lock, &got)
		return windows.IsWindowVisible(lock) && ex&wsExTopmost != 0 && got == vs
	})
	h.await("a heartbeat after WM_CLOSE and WM_QUIT", func(r Report) bool { return r.T == ReportAlive && r.Lock })

	// A message on the lock screen; the keyboard hook sees Enter.
	h.ready(h.send(Command{Lock: true, MsgID: 6, Msg: "Your session is paused."}))
	press(t, vkReturn)
	if d := h.await("dismissed 6", func(r Report) bool { return r.T == ReportDismissed }); d.MsgID != 6 || !d.Lock {
		t.Errorf("dismissed %+v, want message 6 on the lock", d)
	}
	if !windows.IsWindowVisible(lock) {
		t.Error("the lock went with the message")
	}

	// The countdown alone: a strip along the top that takes no input.
	ends := time.Now().Add(time.Minute)
	r = h.ready(h.send(Command{EndsAt: ends.UnixMilli()}))
	if r.Lock || r.Grabbed || r.Windows != 1 || r.Countdown < 58 || r.Countdown > 60 {
		t.Errorf("ready %+v, want one window and a countdown of about 60 s", r)
	}
	if windows.IsWindowVisible(lock) {
		t.Error("lock still shown")
	}
	strip := window(stripClass, pid)
	if strip == 0 {
		t.Fatal("no visible countdown strip")
	}
	sr := rectOf(t, strip)
	p := primaryScreen()
	if sr.Left != p.Left || sr.Right != p.Right || sr.Top != p.Top || sr.Bottom-sr.Top >= (p.Bottom-p.Top)/4 {
		t.Errorf("strip at %+v, want a strip along the top of %+v", sr, p)
	}
	style, ex = styles(strip)
	if style&wsDisabled == 0 || ex&(wsExTransparent|wsExNoActivate|wsExLayered|wsExTopmost) != wsExTransparent|wsExNoActivate|wsExLayered|wsExTopmost {
		t.Errorf("strip style %#x ex-style %#x, want disabled, transparent, no-activate, topmost", style, ex)
	}
	if x, y := centre(sr); windowFromPoint(x, y) == strip {
		t.Error("the strip takes the pointer")
	}

	// A message with the countdown: a box, dismissed by a click.
	r = h.ready(h.send(Command{EndsAt: ends.UnixMilli(), MsgID: 7, Msg: "Please save your work & log off.\n<b>Thanks</b>"}))
	if r.MsgID != 7 || r.Windows != 2 {
		t.Errorf("ready %+v, want message 7 and two windows", r)
	}
	box := window(boxClass, pid)
	if box == 0 {
		t.Fatal("no visible message box")
	}
	br := rectOf(t, box)
	if bx, by := centre(br); abs(bx-(p.Left+p.Right)/2) > 1 || abs(by-(p.Top+p.Bottom)/2) > 1 {
		t.Errorf("box at %+v, want it centred on %+v", br, p)
	}
	cx, cy := centre(br)
	click(t, cx, cy)
	d := h.await("dismissed 7", func(r Report) bool { return r.T == ReportDismissed })
	if d.MsgID != 7 {
		t.Errorf("dismissed %+v, want message 7", d)
	}
	testbin.WaitFor(t, 10*time.Second, "box hidden", func() bool { return !windows.IsWindowVisible(box) })
	if !windows.IsWindowVisible(strip) {
		t.Error("the countdown went with the message")
	}

	// Another message, dismissed with Enter.
	h.ready(h.send(Command{MsgID: 8, Msg: "Closing in 10 minutes."}))
	if windows.IsWindowVisible(strip) {
		t.Error("countdown still shown")
	}
	_ = postMessage(box, wmKeyDown, vkReturn, 0)
	if d := h.await("dismissed 8", func(r Report) bool { return r.T == ReportDismissed }); d.MsgID != 8 {
		t.Errorf("dismissed %+v, want message 8", d)
	}

	// stdin closes (the service is gone): the helper exits 0 and its windows
	// go with it.
	h.in.Close()
	select {
	case <-h.exited:
		if h.exitErr != nil {
			t.Errorf("helper exit: %v", h.exitErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("helper still running 5 s after its stdin closed")
	}
	for _, class := range []string{lockClass, stripClass, boxClass} {
		if len(windowsOf(class, pid)) != 0 {
			t.Errorf("a %s window is left", class)
		}
	}
}

func abs(v int32) int32 { return max(v, -v) }

// TestHelperExitsOnEmptyState: nothing left to show ends the helper.
func TestHelperExitsOnEmptyState(t *testing.T) {
	needDisplay(t)
	h := startTestHelper(t)
	h.ready(h.send(Command{Lock: true}))
	h.send(Command{})
	select {
	case <-h.exited:
		if h.exitErr != nil {
			t.Errorf("helper exit: %v", h.exitErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("helper still running 5 s after an empty state")
	}
}
