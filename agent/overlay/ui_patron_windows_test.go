//go:build windows

package overlay

import (
	"os"
	"testing"
	"time"
)

// TestPatronScreenWindows runs the real helper's patron screen (under Wine in
// CI): the sign-in form typed through SendInput (the keyboard hook takes the
// keys), the strip's End my session with its confirmation, and a time warning
// closed by a click.
func TestPatronScreenWindows(t *testing.T) {
	needDisplay(t)
	h := startTestHelper(t)
	pid := h.cmd.Process.Pid
	h.ready(h.send(Command{Lock: true, Patron: PatronScreen{SignIn: true, CleanAt: time.Now().Add(-time.Minute).UnixMilli()}}))
	if window(lockClass, pid) == 0 {
		t.Fatal("no lock window for the form")
	}
	pause := func() {
		if os.Getenv("CARREL_SHOTS") != "" {
			time.Sleep(3 * time.Second) // a screenshot is taken from outside
		}
	}
	for _, vk := range []uint16{'2', '1', vkTab, '9'} {
		press(t, vk)
	}
	pause()
	for _, vk := range []uint16{vkEscape} {
		press(t, vk)
	}
	for _, vk := range []uint16{'2', '1', '2', '3', '4', vkTab, '9', '8', '7', '6', vkReturn} {
		press(t, vk)
	}
	r := h.await("the sign-in report", func(r Report) bool { return r.T == ReportSignIn })
	if string(r.Card) != "21234" || string(r.PIN) != "9876" || len(r.Guest) != 0 {
		t.Errorf("sign-in: card %q pin %q guest %q", r.Card, r.PIN, r.Guest)
	}
	// A guest code: Tab from the PIN to the guest field, letters and a dash.
	for _, vk := range []uint16{vkTab, 'G', vkOEMMinus, '7', vkReturn} {
		press(t, vk)
	}
	r = h.await("the guest report", func(r Report) bool { return r.T == ReportSignIn })
	if string(r.Guest) != "g-7" || len(r.Card) != 0 {
		t.Errorf("guest: card %q guest %q", r.Card, r.Guest)
	}

	h.ready(h.send(Command{Patron: PatronScreen{EndsAt: time.Now().Add(42 * time.Minute).UnixMilli()}}))
	strip := window(patronClass, pid)
	if strip == 0 {
		t.Fatal("no patron strip")
	}
	if window(lockClass, pid) != 0 {
		t.Error("the lock is still shown with the strip")
	}
	pause()
	sr := rectOf(t, strip)
	if sr.Top != 0 || sr.Bottom-sr.Top > (primaryScreen().Bottom)/4 {
		t.Errorf("strip at %+v, want a strip along the top", sr)
	}
	// End my session, at the strip's right end; then Yes, in the same place.
	x, y := sr.Right-30, (sr.Top+sr.Bottom)/2
	click(t, x, y)
	time.Sleep(300 * time.Millisecond) // the confirmation is drawn on the next paint
	select {
	case r := <-h.reports:
		if r.T == ReportEndSession {
			t.Fatal("ended without a confirmation")
		}
	default:
	}
	click(t, x, y)
	h.await("the end of the session", func(r Report) bool { return r.T == ReportEndSession })

	h.ready(h.send(Command{Patron: PatronScreen{EndsAt: time.Now().Add(5 * time.Minute).UnixMilli(), WarnID: 3, Warn: 5}}))
	box := window(boxClass, pid)
	if box == 0 {
		t.Fatal("no warning box")
	}
	bx, by := centre(rectOf(t, box))
	click(t, bx, by)
	r = h.await("the warning acknowledged", func(r Report) bool { return r.T == ReportWarnAck })
	if r.WarnID != 3 {
		t.Errorf("acknowledged %d, want 3", r.WarnID)
	}
}
