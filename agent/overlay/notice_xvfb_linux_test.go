//go:build linux

package overlay

import (
	"context"
	"testing"
	"time"

	"github.com/jezek/xgb/xproto"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// noticeWindow finds the viewable window named noticeWindowName (WM_NAME).
func (x *xserver) noticeWindow() (winInfo, bool) {
	tree, err := xproto.QueryTree(x.c, x.root).Reply()
	if err != nil {
		x.t.Fatalf("QueryTree: %v", err)
	}
	for _, w := range tree.Children {
		a, err := xproto.GetWindowAttributes(x.c, w).Reply()
		if err != nil || a.MapState != xproto.MapStateViewable {
			continue
		}
		p, err := xproto.GetProperty(x.c, false, w, xproto.AtomWmName, xproto.AtomString, 0, 64).Reply()
		if err != nil || string(p.Value) != noticeWindowName {
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

// rendered draws line as the helper draws notice text (the same server, core
// font, colours and call) into a pixmap and reads it back: the picture that
// line makes on this screen.
func (x *xserver) rendered(line string) image {
	x.t.Helper()
	u := &xui{c: x.c}
	f, err := u.openFont(textFonts)
	if err != nil {
		x.t.Fatal(err)
	}
	cs := f.chars(line)
	w, h := len(cs)*f.width, f.height
	scr := xproto.Setup(x.c).DefaultScreen(x.c)
	pm, _ := xproto.NewPixmapId(x.c)
	gc, _ := xproto.NewGcontextId(x.c)
	if err := xproto.CreatePixmapChecked(x.c, scr.RootDepth, pm, xproto.Drawable(x.root), uint16(w), uint16(h)).Check(); err != nil {
		x.t.Fatal(err)
	}
	defer xproto.FreePixmap(x.c, pm)
	xproto.CreateGC(x.c, gc, xproto.Drawable(pm), xproto.GcForeground|xproto.GcBackground|xproto.GcFont|xproto.GcGraphicsExposures,
		[]uint32{x.pixel(boxFG), x.pixel(boxBG), uint32(f.id), 0})
	defer xproto.FreeGC(x.c, gc)
	xproto.ImageText16(x.c, byte(len(cs)), xproto.Drawable(pm), gc, 0, int16(f.ascent), cs)
	rep, err := xproto.GetImage(x.c, xproto.ImageFormatZPixmap, xproto.Drawable(pm), 0, 0, uint16(w), uint16(h), 0xffffffff).Reply()
	if err != nil {
		x.t.Fatal(err)
	}
	im := image{w: w, h: h, px: make([]uint32, w*h)}
	for i := range im.px {
		im.px[i] = (uint32(rep.Data[4*i]) | uint32(rep.Data[4*i+1])<<8 | uint32(rep.Data[4*i+2])<<16) & 0xffffff
	}
	return im
}

// contains reports whether sub appears in im, pixel for pixel.
func (im image) contains(sub image) bool {
	for oy := 0; oy+sub.h <= im.h; oy++ {
	next:
		for ox := 0; ox+sub.w <= im.w; ox++ {
			for y := 0; y < sub.h; y++ {
				for x := 0; x < sub.w; x++ {
					if im.at(ox+x, oy+y) != sub.at(x, y) {
						continue next
					}
				}
			}
			return true
		}
	}
	return false
}

// TestNoticeUnderXvfb: the notice a blocked download gives the patron shows
// in a corner at once, its words read back from the screen; it takes neither
// the keyboard nor the focus; a click closes it, and left alone it goes by
// itself (issue 16 §6).
func TestNoticeUnderXvfb(t *testing.T) {
	x := startXvfb(t)
	s, _ := realSupervisor(t, "")
	s.noticeFor = 3 * time.Second
	tg := self(x)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	text, ok := protocol.PatronNotice(protocol.EventDownloadBlocked, protocol.DownloadBlocked{
		Name: "invoice.exe", Reason: "dangerous extension .exe (Windows program)"}.Data())
	if !ok {
		t.Fatal("no notice for a blocked download")
	}
	focus0, err := xproto.GetInputFocus(x.c).Reply()
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := s.Notice(ctx, tg, text); err != nil {
		t.Fatal(err)
	}
	var w winInfo
	testbin.WaitFor(t, 5*time.Second, "the notice window", func() bool { w, ok = x.noticeWindow(); return ok })
	if w.x+w.w <= x.w/2 || w.y+w.h <= x.h/2 || w.w >= x.w || w.h >= x.h/2 || !w.override {
		t.Errorf("notice window %+v: want a small window in the bottom right corner of %dx%d", w, x.w, x.h)
	}
	lines := append([]string{}, noticeLines(text)...)
	if len(lines) < 2 {
		t.Fatalf("notice wrapped to %q", lines)
	}
	pics := make([]image, len(lines))
	for i, l := range lines {
		pics[i] = x.rendered(l)
	}
	testbin.WaitFor(t, 5*time.Second, "every line of the notice on the screen", func() bool {
		im := x.image(w.x, w.y, w.w, w.h)
		for _, p := range pics {
			if !im.contains(p) {
				return false
			}
		}
		return true
	})
	t.Logf("notice on screen, every line read back, %s after the call: %q", time.Since(start).Round(time.Millisecond), lines)
	if r, ok := s.Shown(tg.Session); !ok || r.NoticeID == 0 || r.Lock || r.Grabbed {
		t.Errorf("helper reports %+v: want the notice shown, no lock, no grab", r)
	}
	if x.keyboardGrabbed() {
		t.Error("a notice must not take the keyboard")
	}
	if f, err := xproto.GetInputFocus(x.c).Reply(); err != nil || f.Focus != focus0.Focus {
		t.Errorf("input focus moved to %v (was %v): a notice must not take it", f.Focus, focus0.Focus)
	}

	// A click closes it; nothing else is left, so the helper goes.
	done := s.helperDone(tg.Session)
	x.click(w.x+w.w/2, w.y+w.h/2)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("notice not closed by a click")
	}
	if _, ok := x.noticeWindow(); ok {
		t.Error("notice still mapped after the click")
	}

	// Left alone, the next one goes by itself after noticeFor.
	if err := s.Notice(ctx, tg, "setup.exe did not start."); err != nil {
		t.Fatal(err)
	}
	shown := time.Now()
	testbin.WaitFor(t, 5*time.Second, "the second notice", func() bool { _, ok := x.noticeWindow(); return ok })
	done = s.helperDone(tg.Session)
	select {
	case <-done:
		if d := time.Since(shown); d < 2*time.Second {
			t.Errorf("notice gone after %s, want about %s", d, s.noticeFor)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("notice still shown 10 s after its time")
	}
}
