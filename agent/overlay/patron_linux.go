//go:build linux

package overlay

import (
	"encoding/binary"
	"time"

	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/xproto"
)

// The patron's screen on X11: the sign-in form on the lock, the strip with
// the time left and "End my session", and the time warning in the box.
//
// Large type without depending on installed fonts: a line is drawn once in
// the core font into an off-screen pixmap, read back, and painted k times
// larger as rectangles (k from the target size and the screen's DPI, so a
// 2x screen gets 2x type). Where the pixmap format is not one this reads,
// the line is drawn at the font's own size.

// Colours of the patron screen.
const (
	fieldBG    = 0xffffff
	focusFrame = 0xffd200 // the focused field, and refusals
	patronBG   = 0x23395b // the patron's strip
	buttonBG   = 0xf2f2f2
)

// Target heights of the patron screen's text at 96 DPI, in pixels.
const (
	titlePx = 40
	formPx  = 28
	smallPx = 20
)

// runs is a line's lit pixels at the font's size, as horizontal runs.
type runs struct {
	w, h int
	r    []xproto.Rectangle
}

// lineRuns renders line in f off screen and reads its pixels back (cached).
func (u *xui) lineRuns(s *xscreen, f xfont, line string) (runs, bool) {
	key := string(rune(f.id)) + "\x00" + line
	if r, ok := u.runCache[key]; ok {
		return r, true
	}
	cs := f.chars(line)
	if len(cs) > 255 {
		cs = cs[:255]
	}
	w, h := max(len(cs)*f.width, 1), max(f.height, 1)
	pid, err := xproto.NewPixmapId(u.c)
	if err != nil {
		return runs{}, false
	}
	if err := xproto.CreatePixmapChecked(u.c, s.depth, pid, xproto.Drawable(s.root), uint16(w), uint16(h)).Check(); err != nil {
		return runs{}, false
	}
	defer xproto.FreePixmap(u.c, pid)
	d := xproto.Drawable(pid)
	u.fill(s, d, boxFG, xproto.Rectangle{Width: uint16(w), Height: uint16(h)})
	if len(cs) > 0 {
		xproto.ChangeGC(u.c, s.gc, xproto.GcForeground|xproto.GcBackground|xproto.GcFont, []uint32{s.pix[textFG], s.pix[boxFG], uint32(f.id)})
		xproto.ImageText16(u.c, byte(len(cs)), d, s.gc, 0, int16(f.ascent), cs)
	}
	img, err := xproto.GetImage(u.c, xproto.ImageFormatZPixmap, d, 0, 0, uint16(w), uint16(h), 0xffffffff).Reply()
	if err != nil {
		return runs{}, false
	}
	bpp, pad := 0, 0
	for _, pf := range u.formats {
		if pf.Depth == s.depth {
			bpp, pad = int(pf.BitsPerPixel), int(pf.ScanlinePad)
		}
	}
	if (bpp != 8 && bpp != 16 && bpp != 32) || pad == 0 || u.msbImage {
		return runs{}, false
	}
	stride := ((w*bpp + pad - 1) / pad) * pad / 8
	if len(img.Data) < stride*h {
		return runs{}, false
	}
	lit := s.pix[textFG]
	px := func(x, y int) uint32 {
		o := y*stride + x*bpp/8
		switch bpp {
		case 8:
			return uint32(img.Data[o])
		case 16:
			return uint32(binary.LittleEndian.Uint16(img.Data[o:]))
		}
		return binary.LittleEndian.Uint32(img.Data[o:])
	}
	mask := uint32(1)<<s.depth - 1
	if s.depth >= 32 {
		mask = 0xffffffff
	}
	out := runs{w: w, h: h}
	for y := 0; y < h; y++ {
		for x := 0; x < w; {
			if px(x, y)&mask != lit&mask {
				x++
				continue
			}
			x0 := x
			for x < w && px(x, y)&mask == lit&mask {
				x++
			}
			out.r = append(out.r, xproto.Rectangle{X: int16(x0), Y: int16(y), Width: uint16(x - x0), Height: 1})
		}
	}
	if len(u.runCache) > 256 {
		clear(u.runCache)
	}
	u.runCache[key] = out
	return out, true
}

// scaleFor is the factor that makes f's lines about px pixels high on s.
func (u *xui) scaleFor(s *xscreen, f xfont, px int) int {
	return max(1, (2*px*s.dpiScale+f.height)/(2*f.height)) // rounded
}

// bigText draws line k times the size of f with its top left at (x, y), or
// centred on x when centre is set; it returns the width drawn.
func (u *xui) bigText(s *xscreen, d xproto.Drawable, f xfont, k int, fg, bg uint32, x, y int, centre bool, line string) int {
	rs, ok := u.lineRuns(s, f, line)
	if !ok || k == 1 {
		w := len(f.chars(line)) * f.width
		if centre {
			u.textAt(s, d, f, fg, bg, x, y, line)
		} else {
			u.textAt(s, d, f, fg, bg, x+w/2, y, line)
		}
		return w
	}
	w := rs.w * k
	if centre {
		x -= w / 2
	}
	rects := make([]xproto.Rectangle, 0, len(rs.r))
	for _, r := range rs.r {
		rects = append(rects, xproto.Rectangle{X: int16(x + int(r.X)*k), Y: int16(y + int(r.Y)*k), Width: r.Width * uint16(k), Height: uint16(k)})
	}
	xproto.ChangeGC(u.c, s.gc, xproto.GcForeground, []uint32{s.pix[fg]})
	for len(rects) > 0 {
		n := min(len(rects), 4000)
		xproto.PolyFillRectangle(u.c, d, s.gc, rects[:n])
		rects = rects[n:]
	}
	return w
}

// formLayout is the sign-in form's geometry at one scale.
type formLayout struct {
	kt, kf, ks int // title, form and small text scales
	height     int
}

func (u *xui) formScales(s *xscreen) formLayout {
	kt, kf, ks := u.scaleFor(s, u.title, titlePx), u.scaleFor(s, u.text, formPx), u.scaleFor(s, u.text, smallPx)
	for {
		l := formLayout{kt: kt, kf: kf, ks: ks}
		th, fh, sh := u.title.height*kt, u.text.height*kf, u.text.height*ks
		small := len(u.privacyLines(s, ks))
		l.height = th*2 + nFields*(fh*2+fh/2+12) + fh*3 + sh*(small+2)
		if l.height <= s.h-20 || kt+kf+ks == 3 {
			return l
		}
		kt, kf, ks = max(kt-1, 1), max(kf-1, 1), max(ks-1, 1)
	}
}

// privacyLines is the notice under the form, wrapped to the screen.
func (u *xui) privacyLines(s *xscreen, ks int) []string {
	cols := max((s.w-80)/(u.text.width*ks), 20)
	out := messageLines(privacyErase, cols)
	out = append(out, messageLines(privacyRecord, cols)...)
	if l := cleanLine(u.cmd.Patron.CleanAt); l != "" {
		out = append(out, messageLines(l, cols)...)
	}
	return out
}

// drawForm draws the sign-in form over the whole lock window.
func (u *xui) drawForm(s *xscreen, d xproto.Drawable) {
	p := u.cmd.Patron
	l := u.formScales(s)
	u.fill(s, d, lockBG, xproto.Rectangle{Width: uint16(s.w), Height: uint16(s.h)})
	th, fh, sh := u.title.height*l.kt, u.text.height*l.kf, u.text.height*l.ks
	y := max((s.h-l.height)/2, 10)
	u.bigText(s, d, u.title, l.kt, textFG, lockBG, s.w/2, y, true, signInTitle)
	y += th * 2
	boxW := min((fieldCols+1)*u.text.width*l.kf+24, s.w-40)
	x0 := (s.w - boxW) / 2
	for i := 0; i < nFields; i++ {
		u.bigText(s, d, u.text, l.kf, textFG, lockBG, x0, y, false, fieldLabels[i])
		y += fh + fh/4
		pad := 6 * s.dpiScale
		r := xproto.Rectangle{X: int16(x0), Y: int16(y), Width: uint16(boxW), Height: uint16(fh + 2*pad)}
		u.fill(s, d, fieldBG, r)
		frame := uint32(boxFrame)
		if i == u.form.focus && !p.Busy {
			frame = focusFrame
			for j := 0; j < 4; j++ {
				u.frame(s, d, frame, xproto.Rectangle{X: r.X - int16(j) - 1, Y: r.Y - int16(j) - 1, Width: r.Width + uint16(2*j) + 1, Height: r.Height + uint16(2*j) + 1})
			}
		}
		text := u.form.shown(i)
		if i == u.form.focus && !p.Busy {
			text += "_"
		}
		u.bigText(s, d, u.text, l.kf, boxFG, fieldBG, x0+2*pad, y+pad, false, text)
		y += fh + 2*pad + fh/4 + 12
	}
	u.bigText(s, d, u.text, l.ks, textFG, lockBG, s.w/2, y, true, signInHint)
	y += sh + fh/2
	if st := formStatus(p); st != "" {
		for _, line := range messageLines(st, max((s.w-80)/(u.text.width*l.kf), 20)) {
			u.bigText(s, d, u.text, l.kf, focusFrame, lockBG, s.w/2, y, true, line)
			y += fh
		}
	} else {
		y += fh
	}
	y += sh
	for _, line := range u.privacyLines(s, l.ks) {
		u.bigText(s, d, u.text, l.ks, textFG, lockBG, s.w/2, y, true, line)
		y += sh
	}
}

// fieldCols is the widest field, in characters (a card of 32 and the cursor).
const fieldCols = 33

// stripHeight is the patron strip's height on s.
func (u *xui) stripHeight(s *xscreen) int {
	k := u.scaleFor(s, u.text, formPx)
	return u.text.height*k + 24
}

// drawStrip draws the patron's strip: the time left (or the confirmation,
// the idle warning, the end) and its buttons.
func (u *xui) drawStrip(s *xscreen, d xproto.Drawable) {
	p := u.cmd.Patron
	text := stripText(p, u.confirm, time.Now())
	var labels []string
	switch {
	case p.Ending:
	case u.confirm:
		labels = []string{yesButton, noButton} // Yes rightmost, where End was
	default:
		labels = []string{endButton}
	}
	// The largest type at which the text and the buttons fit side by side.
	k := u.scaleFor(s, u.text, formPx)
	for ; k > 1; k-- {
		need := 32 + len(text)*u.text.width*k
		for _, lab := range labels {
			need += len(lab)*u.text.width*k + 24 + 48
		}
		if need <= s.w {
			break
		}
	}
	h := int(s.mainR.Height)
	u.fill(s, d, patronBG, xproto.Rectangle{Width: s.mainR.Width, Height: uint16(h)})
	s.lastStrip = text
	ty := (h - u.text.height*k) / 2
	u.bigText(s, d, u.text, k, textFG, patronBG, 16, ty, false, text)
	s.buttons = s.buttons[:0]
	x := s.w - 16
	for _, lab := range labels {
		w := len(lab)*u.text.width*k + 24
		x -= w
		r := xproto.Rectangle{X: int16(x), Y: 6, Width: uint16(w), Height: uint16(h - 12)}
		u.fill(s, d, buttonBG, r)
		u.frame(s, d, focusFrame, r)
		u.bigText(s, d, u.text, k, boxFG, buttonBG, x+12, ty, false, lab)
		s.buttons = append(s.buttons, stripButton{r: r, label: lab})
		x -= 48
	}
}

// stripButton is a button drawn on the strip, in the strip's coordinates.
type stripButton struct {
	r     xproto.Rectangle
	label string
}

// stripClick acts on a click at (x, y) on the strip.
func (u *xui) stripClick(s *xscreen, x, y int) {
	for _, b := range s.buttons {
		if x < int(b.r.X) || x >= int(b.r.X)+int(b.r.Width) || y < int(b.r.Y) || y >= int(b.r.Y)+int(b.r.Height) {
			continue
		}
		switch b.label {
		case endButton:
			u.confirm = true
		case noButton:
			u.confirm = false
		case yesButton:
			u.confirm = false
			u.io.report(Report{T: ReportEndSession, Countdown: u.countdown()})
		}
		for _, s := range u.screens {
			u.draw(s)
		}
		return
	}
}

// showsWarning reports whether the box shows a time warning (not a staff
// message, which comes first).
func (u *xui) showsWarning() bool {
	return u.cmd.Msg == "" && u.cmd.Patron.WarnID != 0 && u.cmd.Patron.WarnID != u.ackedWarn
}

// ackWarning hides the warning and tells the service.
func (u *xui) ackWarning() {
	id := u.cmd.Patron.WarnID
	u.ackedWarn = id
	u.io.report(Report{T: ReportWarnAck, WarnID: id, Countdown: u.countdown()})
	u.layout()
}

// formActive reports whether keys go to the sign-in form.
func (u *xui) formActive() bool { return u.cmd.Lock && u.cmd.Patron.SignIn && !u.cmd.Patron.Busy }

// formKey applies a key press to the form; Enter submits it.
func (u *xui) formKey(e xproto.KeyPressEvent) {
	ks := u.keysym(e.Detail, e.State)
	var r rune
	switch {
	case ks == 0xff0d || ks == 0xff8d: // Return, KP_Enter
		if rep, ok := u.form.submit(); ok {
			u.io.report(rep)
			rep.Wipe()
		}
		u.redraw()
		return
	case ks == 0xff09 && e.State&xproto.ModMaskShift != 0, ks == 0xfe20: // Shift+Tab, ISO_Left_Tab
		r = keyBackTab
	case ks == 0xff09:
		r = '\t'
	case ks == 0xff08:
		r = '\b'
	case ks == 0xff1b:
		r = keyEscape
	case ks >= 0xffb0 && ks <= 0xffb9: // the keypad's digits
		r = rune('0' + ks - 0xffb0)
	case ks >= 0x21 && ks <= 0x7e:
		r = rune(ks)
	default:
		return
	}
	if u.form.key(r) {
		u.redraw()
	}
}

func (u *xui) redraw() {
	for _, s := range u.screens {
		u.draw(s)
	}
}

// keysym is the keysym of a key with the modifiers held (Shift, Caps Lock
// for letters).
func (u *xui) keysym(code xproto.Keycode, state uint16) xproto.Keysym {
	i := int(code) - int(u.minKey)
	if i < 0 || i >= len(u.keysyms) || len(u.keysyms[i]) == 0 {
		return 0
	}
	row := u.keysyms[i]
	ks := row[0]
	if state&xproto.ModMaskShift != 0 && len(row) > 1 && row[1] != 0 {
		ks = row[1]
	}
	if state&xproto.ModMaskLock != 0 && ks >= 'a' && ks <= 'z' {
		ks -= 'a' - 'A'
	}
	return ks
}

// idleSeconds is the time since the last input on the display (the
// MIT-SCREEN-SAVER extension), 0 when not known.
func (u *xui) idleSeconds() int {
	if !u.saver {
		return 0
	}
	rep, err := screensaver.QueryInfo(u.c, xproto.Drawable(u.screens[0].root)).Reply()
	if err != nil {
		return 0
	}
	return int(rep.MsSinceUserInput / 1000)
}
