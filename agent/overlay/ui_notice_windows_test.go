//go:build windows

package overlay

import (
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

var procGetWindowText = moduser32.NewProc("GetWindowTextW")

func windowText(w windows.HWND) string {
	buf := make([]uint16, 256)
	n, _, _ := procGetWindowText.Call(uintptr(w), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	return windows.UTF16ToString(buf[:n])
}

// findNotice finds the notice window by class and title (FindWindowEx), as a
// person's tool would, and checks it belongs to pid.
func findNotice(pid int) windows.HWND {
	class, title := windows.StringToUTF16Ptr(noteClass), windows.StringToUTF16Ptr(noticeWindowName)
	w, _, _ := procFindWindowEx.Call(0, 0, uintptr(unsafe.Pointer(class)), uintptr(unsafe.Pointer(title)))
	if w == 0 {
		return 0
	}
	var owner uint32
	if _, err := windows.GetWindowThreadProcessId(windows.HWND(w), &owner); err != nil || int(owner) != pid {
		return 0
	}
	return windows.HWND(w)
}

// TestHelperNotice: the patron's notice is a topmost, never-activated window
// titled "Carrel notice" in the bottom right corner; it takes neither the
// keyboard nor the foreground, and a click closes it and is reported
// (issue 16 §6).
func TestHelperNotice(t *testing.T) {
	needDisplay(t)
	h := startTestHelper(t)
	pid := h.cmd.Process.Pid
	text, _ := protocol.PatronNotice(protocol.EventDownloadBlocked, protocol.DownloadBlocked{Name: "invoice.exe", Reason: "dangerous extension .exe"}.Data())

	r := h.ready(h.send(Command{NoticeID: 7, Notice: text}))
	if r.NoticeID != 7 || r.Lock || r.Grabbed || r.Windows != 1 {
		t.Errorf("ready %+v: want the notice shown, no lock, no keyboard hook, one window", r)
	}
	var w windows.HWND
	testbin.WaitFor(t, 5*time.Second, "the notice window found by its title", func() bool { w = findNotice(pid); return w != 0 && windows.IsWindowVisible(w) })
	if got := windowText(w); got != noticeWindowName {
		t.Errorf("title %q, want %q", got, noticeWindowName)
	}
	_, ex := styles(w)
	if ex&wsExTopmost == 0 || ex&wsExNoActivate == 0 {
		t.Errorf("extended style %#x: want topmost and never activated", ex)
	}
	p, rc := primaryScreen(), rectOf(t, w)
	if rc.Left < p.Right/2 || rc.Top < p.Bottom/2 || rc.Right > p.Right || rc.Bottom > p.Bottom {
		t.Errorf("notice at %+v: want the bottom right of %+v", rc, p)
	}
	if windows.GetForegroundWindow() == w {
		t.Error("the notice took the foreground")
	}

	x, y := centre(rc)
	click(t, x, y)
	h.await("notice closed", func(r Report) bool { return r.T == ReportNoticeClosed && r.NoticeID == 7 })
	testbin.WaitFor(t, 5*time.Second, "the notice hidden", func() bool { return !windows.IsWindowVisible(w) })
}
