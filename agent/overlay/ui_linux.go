//go:build linux

package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/screensaver"
	"github.com/jezek/xgb/xproto"
	"golang.org/x/sys/unix"
)

// Fonts, best first; core fonts every X server has end each list.
var (
	titleFonts = []string{"-misc-fixed-bold-r-normal--18-*-*-*-*-*-iso10646-1", "10x20", "9x15bold", "fixed"}
	textFonts  = []string{"-misc-fixed-medium-r-normal--15-*-*-*-*-*-iso10646-1", "9x15", "fixed"}
)

// harden makes the helper non-dumpable: the patron, whose uid it runs as, can
// then neither attach to it nor open its pipes through /proc.
func harden() { _ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }

type xfont struct {
	id             xproto.Font
	ascent, height int
	width          int // widest glyph: the core fonts used are fixed-width
	minB1, maxB1   byte
	minB2, maxB2   uint16
}

type xscreen struct {
	root          xproto.Window
	w, h          int
	cmap          xproto.Colormap
	main, box     xproto.Window
	note          xproto.Window // the patron notice, in a corner
	gc            xproto.Gcontext
	pix           map[uint32]uint32 // RGB → pixel
	wantMain      bool
	wantBox       bool
	wantNote      bool
	mainViewable  bool
	boxViewable   bool
	noteViewable  bool
	mainR, boxR   xproto.Rectangle
	noteR         xproto.Rectangle
	mainKind      string // "lock", "strip" (a countdown) or "patron" (the patron's strip)
	lastCountdown int
	depth         byte
	dpiScale      int           // 2 on a 2x screen: the patron screen's type doubles
	lastStrip     string        // the patron strip's text last drawn
	buttons       []stripButton // the patron strip's buttons
}

type xui struct {
	c        *xgb.Conn
	io       *helperIO
	screens  []*xscreen
	title    xfont
	text     xfont
	dismiss  map[xproto.Keycode]bool
	cmd      Command
	grabbed  bool
	readySeq uint64

	// The patron screen (patron_linux.go).
	form      signInForm
	confirm   bool   // "End my session" asks for a confirmation
	ackedWarn uint64 // the warning the patron closed, until the service drops it
	keysyms   [][]xproto.Keysym
	minKey    xproto.Keycode
	saver     bool // MIT-SCREEN-SAVER: the idle time
	runCache  map[string]runs
	formats   []xproto.Format
	msbImage  bool
}

func runUI(ctx context.Context, h *helperIO, first Command) error {
	xgb.Logger = log.New(io.Discard, "", 0) // errors come back as values
	c, err := xgb.NewConn()
	if err != nil {
		return fmt.Errorf("connect to X display: %w", err)
	}
	defer c.Close()
	u := &xui{c: c, io: h, runCache: map[string]runs{}}
	defer u.form.clear()
	if err := u.setup(); err != nil {
		return err
	}
	events := make(chan xgb.Event, 64)
	xerrs := make(chan xgb.Error, 8)
	go func() {
		defer close(events)
		for {
			ev, xerr := c.WaitForEvent()
			if ev == nil && xerr == nil {
				return // connection closed
			}
			if xerr != nil {
				select {
				case xerrs <- xerr:
				default:
				}
				continue
			}
			events <- ev
		}
	}()
	u.apply(first)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.eof:
			return nil
		case cmd := <-h.cmds:
			if cmd.Empty() {
				return nil
			}
			u.apply(cmd)
		case xerr := <-xerrs:
			fmt.Fprintf(h.errw, "carrel-agent session-helper: X error: %v\n", xerr)
		case ev, ok := <-events:
			if !ok {
				return errors.New("X connection lost")
			}
			if err := u.event(ev); err != nil {
				return err
			}
		case <-tick.C:
			n++
			u.tick(n%2 == 0)
		}
		if u.io.dead {
			return nil // the service is gone
		}
	}
}

func (u *xui) setup() error {
	setup := xproto.Setup(u.c)
	var err error
	if u.title, err = u.openFont(titleFonts); err != nil {
		return err
	}
	if u.text, err = u.openFont(textFonts); err != nil {
		return err
	}
	u.loadKeymap(setup)
	u.formats, u.msbImage = setup.PixmapFormats, setup.ImageByteOrder == xproto.ImageOrderMSBFirst
	u.saver = screensaver.Init(u.c) == nil
	for _, r := range setup.Roots {
		s := &xscreen{root: r.Root, w: int(r.WidthInPixels), h: int(r.HeightInPixels), cmap: r.DefaultColormap, pix: map[uint32]uint32{}, lastCountdown: -2,
			depth: r.RootDepth, dpiScale: 1}
		if r.WidthInMillimeters > 0 {
			dpi := float64(r.WidthInPixels) * 25.4 / float64(r.WidthInMillimeters)
			s.dpiScale = max(1, int(dpi/96+0.25)) // 120 DPI stays 1x, 168 and up is 2x
		}
		for _, rgb := range []uint32{lockBG, stripBG, textFG, boxBG, boxFG, boxFrame, fieldBG, focusFrame, patronBG, buttonBG} {
			s.pix[rgb] = u.alloc(s.cmap, rgb, r)
		}
		mask := uint32(xproto.EventMaskExposure | xproto.EventMaskVisibilityChange | xproto.EventMaskStructureNotify |
			xproto.EventMaskButtonPress | xproto.EventMaskKeyPress)
		for _, w := range []*xproto.Window{&s.main, &s.box, &s.note} {
			if *w, err = xproto.NewWindowId(u.c); err != nil {
				return fmt.Errorf("window id: %w", err)
			}
			err = xproto.CreateWindowChecked(u.c, r.RootDepth, *w, r.Root, 0, 0, 1, 1, 0, xproto.WindowClassInputOutput,
				r.RootVisual, xproto.CwBackPixel|xproto.CwOverrideRedirect|xproto.CwEventMask,
				[]uint32{s.pix[lockBG], 1, mask}).Check()
			if err != nil {
				return fmt.Errorf("create window: %w", err)
			}
		}
		// The notice's name is what it says, for people and tools that list
		// windows (it takes no focus and has no frame to show it in).
		xproto.ChangeProperty(u.c, xproto.PropModeReplace, s.note, xproto.AtomWmName, xproto.AtomString, 8,
			uint32(len(noticeWindowName)), []byte(noticeWindowName))
		// Screen size changes (RandR) arrive as ConfigureNotify on the root.
		xproto.ChangeWindowAttributes(u.c, r.Root, xproto.CwEventMask, []uint32{xproto.EventMaskStructureNotify})
		if s.gc, err = xproto.NewGcontextId(u.c); err != nil {
			return fmt.Errorf("gc id: %w", err)
		}
		if err := xproto.CreateGCChecked(u.c, s.gc, xproto.Drawable(s.main), xproto.GcGraphicsExposures, []uint32{0}).Check(); err != nil {
			return fmt.Errorf("create gc: %w", err)
		}
		u.screens = append(u.screens, s)
	}
	if len(u.screens) == 0 {
		return errors.New("X display has no screen")
	}
	return nil
}

func (u *xui) alloc(cmap xproto.Colormap, rgb uint32, r xproto.ScreenInfo) uint32 {
	c16 := func(shift uint) uint16 { v := uint16(rgb>>shift) & 0xff; return v<<8 | v }
	rep, err := xproto.AllocColor(u.c, cmap, c16(16), c16(8), c16(0)).Reply()
	if err != nil {
		if rgb >= 0x808080 {
			return r.WhitePixel
		}
		return r.BlackPixel
	}
	return rep.Pixel
}

func (u *xui) openFont(names []string) (xfont, error) {
	var last error
	for _, name := range names {
		id, err := xproto.NewFontId(u.c)
		if err != nil {
			return xfont{}, fmt.Errorf("font id: %w", err)
		}
		if err := xproto.OpenFontChecked(u.c, id, uint16(len(name)), name).Check(); err != nil {
			last = err
			continue
		}
		q, err := xproto.QueryFont(u.c, xproto.Fontable(id)).Reply()
		if err != nil {
			last = err
			continue
		}
		return xfont{id: id, ascent: int(q.FontAscent), height: int(q.FontAscent) + int(q.FontDescent),
			width: max(int(q.MaxBounds.CharacterWidth), 1), minB1: q.MinByte1, maxB1: q.MaxByte1,
			minB2: q.MinCharOrByte2, maxB2: q.MaxCharOrByte2}, nil
	}
	return xfont{}, fmt.Errorf("no usable core font (tried %s): %v", strings.Join(names, ", "), last)
}

// chars turns text into the font's two-byte characters; a character the font
// cannot have is drawn as "?".
func (f xfont) chars(s string) []xproto.Char2b {
	out := make([]xproto.Char2b, 0, len(s))
	for _, r := range s {
		b1, b2 := byte(r>>8), uint16(r&0xff)
		if f.minB1 == 0 && f.maxB1 == 0 {
			b1, b2 = 0, uint16(r) // a linear font
		}
		if r > 0xffff || b1 < f.minB1 || b1 > f.maxB1 || b2 < f.minB2 || b2 > f.maxB2 {
			b1, b2 = 0, '?'
		}
		out = append(out, xproto.Char2b{Byte1: b1, Byte2: byte(b2)})
	}
	return out
}

// Keysyms that dismiss a message: Return, KP_Enter, Escape, space.
var dismissKeysyms = map[xproto.Keysym]bool{0xff0d: true, 0xff8d: true, 0xff1b: true, 0x20: true}

func (u *xui) loadKeymap(setup *xproto.SetupInfo) {
	u.dismiss = map[xproto.Keycode]bool{}
	first, count := setup.MinKeycode, int(setup.MaxKeycode)-int(setup.MinKeycode)+1
	rep, err := xproto.GetKeyboardMapping(u.c, first, byte(count)).Reply()
	if err != nil || rep.KeysymsPerKeycode == 0 {
		return
	}
	per := int(rep.KeysymsPerKeycode)
	u.minKey, u.keysyms = first, nil
	for i := 0; i < count && (i+1)*per <= len(rep.Keysyms); i++ {
		u.keysyms = append(u.keysyms, rep.Keysyms[i*per:(i+1)*per])
		for _, ks := range rep.Keysyms[i*per : (i+1)*per] {
			if dismissKeysyms[ks] {
				u.dismiss[xproto.Keycode(int(first)+i)] = true
			}
		}
	}
}

// countdown returns the seconds left, or -1 without a countdown.
func (u *xui) countdown() int {
	if u.cmd.EndsAt == 0 {
		return -1
	}
	left := time.Until(time.UnixMilli(u.cmd.EndsAt))
	return max(int((left+time.Second-1)/time.Second), 0)
}

// apply puts cmd on screen.
func (u *xui) apply(cmd Command) {
	newMsg := cmd.MsgID != 0 && cmd.MsgID != u.cmd.MsgID ||
		cmd.Patron.WarnID != 0 && cmd.Patron.WarnID != u.cmd.Patron.WarnID && cmd.Patron.WarnID != u.ackedWarn
	u.form.sync(cmd.Patron, cmd.Lock)
	if cmd.Patron.EndsAt == 0 || cmd.Patron.Ending {
		u.confirm = false
	}
	u.cmd = cmd
	u.layout()
	if newMsg && !cmd.Lock {
		s := u.screens[0]
		xproto.SetInputFocus(u.c, xproto.InputFocusParent, s.box, xproto.TimeCurrentTime)
	}
	if !cmd.Lock && u.grabbed {
		xproto.UngrabKeyboard(u.c, xproto.TimeCurrentTime)
		xproto.UngrabPointer(u.c, xproto.TimeCurrentTime)
		u.grabbed = false
	}
	u.grab()
	u.checkReady()
}

// layout sizes, maps and draws every window for the current command.
func (u *xui) layout() {
	cmd := u.cmd
	for i, s := range u.screens {
		s.wantMain, s.wantBox, s.wantNote = false, false, false
		switch {
		case cmd.Lock:
			s.wantMain, s.mainKind = true, "lock"
			s.mainR = xproto.Rectangle{Width: uint16(s.w), Height: uint16(s.h)}
		case cmd.EndsAt != 0:
			s.wantMain, s.mainKind = true, "strip"
			s.mainR = xproto.Rectangle{Width: uint16(s.w), Height: uint16(2 * u.title.height)}
		case cmd.Patron.EndsAt != 0:
			s.wantMain, s.mainKind = true, "patron"
			s.mainR = xproto.Rectangle{Width: uint16(s.w), Height: uint16(u.stripHeight(s))}
		}
		if !cmd.Lock && (cmd.Msg != "" || u.showsWarning()) && i == 0 {
			s.wantBox = true
			s.boxR = u.boxRect(s)
		}
		if !cmd.Lock && cmd.Notice != "" && i == 0 {
			s.wantNote = true
			s.noteR = u.noteRect(s)
		}
		u.place(s, s.main, s.wantMain, s.mainR, &s.mainViewable)
		u.place(s, s.box, s.wantBox, s.boxR, &s.boxViewable)
		u.place(s, s.note, s.wantNote, s.noteR, &s.noteViewable)
		s.lastCountdown = -2
		u.draw(s)
	}
}

func (u *xui) place(s *xscreen, w xproto.Window, want bool, r xproto.Rectangle, viewable *bool) {
	if !want {
		if *viewable {
			xproto.UnmapWindow(u.c, w)
		}
		*viewable = false
		return
	}
	bg := s.pix[lockBG]
	switch {
	case w == s.box, w == s.note:
		bg = s.pix[boxBG]
	case s.mainKind == "strip":
		bg = s.pix[stripBG]
	case s.mainKind == "patron":
		bg = s.pix[patronBG]
	}
	xproto.ChangeWindowAttributes(u.c, w, xproto.CwBackPixel, []uint32{bg})
	xproto.ConfigureWindow(u.c, w, xproto.ConfigWindowX|xproto.ConfigWindowY|xproto.ConfigWindowWidth|xproto.ConfigWindowHeight|xproto.ConfigWindowStackMode,
		[]uint32{uint32(r.X), uint32(r.Y), uint32(max(r.Width, 1)), uint32(max(r.Height, 1)), xproto.StackModeAbove})
	xproto.MapWindow(u.c, w)
}

func (u *xui) messageCols(s *xscreen) int {
	return min(72, (s.w-80)/u.text.width)
}

func (u *xui) boxRect(s *xscreen) xproto.Rectangle {
	if u.showsWarning() {
		k := u.scaleFor(s, u.text, formPx)
		w := min((len(warnText(u.cmd.Patron.Warn))+4)*u.text.width*k, s.w)
		h := min(u.text.height*k*5, s.h)
		return xproto.Rectangle{X: int16((s.w - w) / 2), Y: int16((s.h - h) / 2), Width: uint16(w), Height: uint16(h)}
	}
	lines := messageLines(u.cmd.Msg, u.messageCols(s))
	wide := max(utf8.RuneCountInString(messageTitle)*u.title.width, utf8.RuneCountInString(messageHint)*u.text.width)
	for _, l := range lines {
		wide = max(wide, utf8.RuneCountInString(l)*u.text.width)
	}
	w := min(wide+60, s.w)
	h := min(u.title.height*3+(len(lines)+3)*u.text.height+20, s.h)
	return xproto.Rectangle{X: int16((s.w - w) / 2), Y: int16((s.h - h) / 2), Width: uint16(w), Height: uint16(h)}
}

// noteRect is the notice's place: the bottom right corner, above where a
// task bar sits.
func (u *xui) noteRect(s *xscreen) xproto.Rectangle {
	lines := noticeLines(u.cmd.Notice)
	wide := max(utf8.RuneCountInString(noticeTitle)*u.title.width, utf8.RuneCountInString(noticeHint)*u.text.width)
	for _, l := range lines {
		wide = max(wide, utf8.RuneCountInString(l)*u.text.width)
	}
	w := min(wide+40, s.w)
	h := min(u.title.height*2+(len(lines)+2)*u.text.height+20, s.h)
	return xproto.Rectangle{X: int16(max(s.w-w-16, 0)), Y: int16(max(s.h-h-56, 0)), Width: uint16(w), Height: uint16(h)}
}

// text draws one line centred on cx with its top at y.
func (u *xui) textAt(s *xscreen, d xproto.Drawable, f xfont, fg, bg uint32, cx, y int, line string) {
	cs := f.chars(line)
	if len(cs) > 255 {
		cs = cs[:255]
	}
	if len(cs) == 0 {
		return
	}
	x := cx - len(cs)*f.width/2
	xproto.ChangeGC(u.c, s.gc, xproto.GcForeground|xproto.GcBackground|xproto.GcFont, []uint32{s.pix[fg], s.pix[bg], uint32(f.id)})
	xproto.ImageText16(u.c, byte(len(cs)), d, s.gc, int16(x), int16(y+f.ascent), cs)
}

func (u *xui) fill(s *xscreen, d xproto.Drawable, rgb uint32, r xproto.Rectangle) {
	xproto.ChangeGC(u.c, s.gc, xproto.GcForeground, []uint32{s.pix[rgb]})
	xproto.PolyFillRectangle(u.c, d, s.gc, []xproto.Rectangle{r})
}

func (u *xui) frame(s *xscreen, d xproto.Drawable, rgb uint32, r xproto.Rectangle) {
	xproto.ChangeGC(u.c, s.gc, xproto.GcForeground, []uint32{s.pix[rgb]})
	xproto.PolyRectangle(u.c, d, s.gc, []xproto.Rectangle{r})
}

// draw repaints the screen's windows.
func (u *xui) draw(s *xscreen) {
	n := u.countdown()
	s.lastCountdown = n
	if s.wantMain {
		d := xproto.Drawable(s.main)
		switch s.mainKind {
		case "lock":
			if u.cmd.Patron.SignIn {
				u.drawForm(s, d)
				break
			}
			u.fill(s, d, lockBG, xproto.Rectangle{Width: uint16(s.w), Height: uint16(s.h)})
			y := s.h / 3
			u.textAt(s, d, u.title, textFG, lockBG, s.w/2, y, LockNotice)
			y += 2 * u.title.height
			if n >= 0 {
				u.textAt(s, d, u.text, textFG, lockBG, s.w/2, y, fmt.Sprintf(countdownText, n))
				y += 2 * u.text.height
			}
			if u.cmd.Msg != "" {
				u.drawMessage(s, d, s.w/2, y, lockBG, textFG)
			}
		case "strip":
			u.fill(s, d, stripBG, xproto.Rectangle{Width: s.mainR.Width, Height: s.mainR.Height})
			u.textAt(s, d, u.title, textFG, stripBG, s.w/2, (int(s.mainR.Height)-u.title.height)/2, fmt.Sprintf(countdownText, max(n, 0)))
		case "patron":
			u.drawStrip(s, d)
		}
	}
	if s.wantBox && u.showsWarning() {
		d := xproto.Drawable(s.box)
		r := xproto.Rectangle{Width: s.boxR.Width, Height: s.boxR.Height}
		k := u.scaleFor(s, u.text, formPx)
		u.fill(s, d, boxBG, r)
		for j := 0; j < 4; j++ {
			u.frame(s, d, focusFrame, xproto.Rectangle{X: int16(j), Y: int16(j), Width: r.Width - uint16(2*j) - 1, Height: r.Height - uint16(2*j) - 1})
		}
		lh := u.text.height * k
		u.bigText(s, d, u.text, k, boxFG, boxBG, int(r.Width)/2, lh/2, true, warnTitle)
		u.bigText(s, d, u.text, k, boxFG, boxBG, int(r.Width)/2, lh*2, true, warnText(u.cmd.Patron.Warn))
		u.bigText(s, d, u.text, max(k-1, 1), boxFG, boxBG, int(r.Width)/2, lh*3+lh/2, true, warnHint)
	} else if s.wantBox {
		d := xproto.Drawable(s.box)
		r := xproto.Rectangle{Width: s.boxR.Width, Height: s.boxR.Height}
		u.fill(s, d, boxBG, r)
		u.frame(s, d, boxFrame, xproto.Rectangle{X: 1, Y: 1, Width: r.Width - 3, Height: r.Height - 3})
		u.frame(s, d, boxFrame, xproto.Rectangle{X: 2, Y: 2, Width: r.Width - 5, Height: r.Height - 5})
		u.drawMessage(s, d, int(r.Width)/2, u.title.height, boxBG, boxFG)
	}
	if s.wantNote {
		d := xproto.Drawable(s.note)
		r := xproto.Rectangle{Width: s.noteR.Width, Height: s.noteR.Height}
		u.fill(s, d, boxBG, r)
		u.frame(s, d, boxFrame, xproto.Rectangle{X: 1, Y: 1, Width: r.Width - 3, Height: r.Height - 3})
		cx, y := int(r.Width)/2, u.title.height/2+4
		u.textAt(s, d, u.title, boxFG, boxBG, cx, y, noticeTitle)
		y += u.title.height + u.text.height/2
		for _, l := range noticeLines(u.cmd.Notice) {
			u.textAt(s, d, u.text, boxFG, boxBG, cx, y, l)
			y += u.text.height
		}
		u.textAt(s, d, u.text, boxFG, boxBG, cx, y+u.text.height/2, noticeHint)
	}
}

// drawMessage draws the title, the message lines and the hint, from top y.
func (u *xui) drawMessage(s *xscreen, d xproto.Drawable, cx, y int, bg, fg uint32) {
	u.textAt(s, d, u.title, fg, bg, cx, y, messageTitle)
	y += 2 * u.title.height
	for _, l := range messageLines(u.cmd.Msg, u.messageCols(s)) {
		u.textAt(s, d, u.text, fg, bg, cx, y, l)
		y += u.text.height
	}
	y += u.text.height
	u.textAt(s, d, u.text, fg, bg, cx, y, messageHint)
}

// grab takes the keyboard and pointer while locked; it is retried on every
// tick until it holds (another client may hold a grab for a while).
func (u *xui) grab() {
	s := u.screens[0]
	if !u.cmd.Lock || u.grabbed || !s.mainViewable {
		return
	}
	kr, err := xproto.GrabKeyboard(u.c, false, s.main, xproto.TimeCurrentTime, xproto.GrabModeAsync, xproto.GrabModeAsync).Reply()
	if err != nil || kr.Status != xproto.GrabStatusSuccess {
		return
	}
	pr, err := xproto.GrabPointer(u.c, false, s.main, xproto.EventMaskButtonPress, xproto.GrabModeAsync, xproto.GrabModeAsync,
		s.main, xproto.CursorNone, xproto.TimeCurrentTime).Reply()
	if err != nil || pr.Status != xproto.GrabStatusSuccess {
		xproto.UngrabKeyboard(u.c, xproto.TimeCurrentTime)
		return
	}
	u.grabbed = true
}

func (u *xui) raise() {
	for _, s := range u.screens {
		for _, w := range []struct {
			id   xproto.Window
			want bool
		}{{s.main, s.wantMain}, {s.box, s.wantBox}, {s.note, s.wantNote}} {
			if w.want {
				xproto.ConfigureWindow(u.c, w.id, xproto.ConfigWindowStackMode, []uint32{xproto.StackModeAbove})
			}
		}
	}
}

func (u *xui) mapped() int {
	n := 0
	for _, s := range u.screens {
		if s.wantMain && s.mainViewable {
			n++
		}
		if s.wantBox && s.boxViewable {
			n++
		}
		if s.wantNote && s.noteViewable {
			n++
		}
	}
	return n
}

// checkReady reports ready once every window the command wants is viewable.
func (u *xui) checkReady() {
	if u.readySeq == u.cmd.Seq && u.readySeq != 0 {
		return
	}
	for _, s := range u.screens {
		if s.wantMain && !s.mainViewable || s.wantBox && !s.boxViewable || s.wantNote && !s.noteViewable {
			return
		}
	}
	// Draw now (the Expose that follows a map may still be queued) and wait
	// for the server to have done it: "ready" means "on screen".
	for _, s := range u.screens {
		u.draw(s)
	}
	if _, err := xproto.GetInputFocus(u.c).Reply(); err != nil {
		return
	}
	u.readySeq = u.cmd.Seq
	u.io.report(u.status(ReportReady))
}

func (u *xui) status(kind string) Report {
	r := Report{T: kind, Lock: u.cmd.Lock, Grabbed: u.grabbed, Countdown: u.countdown(), Windows: u.mapped()}
	if kind != ReportDismissed && kind != ReportNoticeClosed {
		r.Seq, r.MsgID, r.NoticeID = u.readySeq, u.cmd.MsgID, u.cmd.NoticeID
	}
	if kind == ReportAlive {
		r.Idle = u.idleSeconds()
		if u.showsWarning() {
			r.WarnID = u.cmd.Patron.WarnID
		}
	}
	return r
}

func (u *xui) tick(heartbeat bool) {
	u.raise()
	u.grab()
	n := u.countdown()
	for _, s := range u.screens {
		if n != s.lastCountdown && (s.wantMain || s.wantBox || s.wantNote) ||
			s.wantMain && s.mainKind == "patron" && stripText(u.cmd.Patron, u.confirm, time.Now()) != s.lastStrip {
			u.draw(s)
		}
	}
	if heartbeat {
		u.io.report(u.status(ReportAlive))
	}
}

// screenOf finds the screen of one of the helper's windows, and a pointer to
// that window's viewable flag and want flag.
func (u *xui) screenOf(w xproto.Window) (s *xscreen, viewable, want *bool) {
	for _, s := range u.screens {
		switch w {
		case s.main:
			return s, &s.mainViewable, &s.wantMain
		case s.box:
			return s, &s.boxViewable, &s.wantBox
		case s.note:
			return s, &s.noteViewable, &s.wantNote
		}
	}
	return nil, nil, nil
}

func (u *xui) event(ev xgb.Event) error {
	switch e := ev.(type) {
	case xproto.ExposeEvent:
		if s, _, _ := u.screenOf(e.Window); s != nil && e.Count == 0 {
			u.draw(s)
		}
	case xproto.VisibilityNotifyEvent:
		if e.State != xproto.VisibilityUnobscured {
			u.raise()
		}
	case xproto.MapNotifyEvent:
		if s, viewable, _ := u.screenOf(e.Window); s != nil {
			*viewable = true
			u.grab()
			u.checkReady()
		}
	case xproto.UnmapNotifyEvent:
		// Someone else unmapped a window we want shown: show it again.
		if s, viewable, want := u.screenOf(e.Window); s != nil {
			*viewable = false
			if e.Window == s.main {
				u.grabbed = u.grabbed && s != u.screens[0]
			}
			if *want {
				xproto.MapWindow(u.c, e.Window)
			}
		}
	case xproto.DestroyNotifyEvent:
		if s, _, _ := u.screenOf(e.Window); s != nil {
			return errors.New("an overlay window was destroyed by another client")
		}
	case xproto.ConfigureNotifyEvent:
		for _, s := range u.screens {
			if e.Window == s.root && (int(e.Width) != s.w || int(e.Height) != s.h) {
				s.w, s.h = int(e.Width), int(e.Height)
				u.layout()
			}
		}
	case xproto.ButtonPressEvent:
		if e.Event == u.screens[0].note {
			u.closeNotice()
			break
		}
		if s, _, _ := u.screenOf(e.Event); s != nil && e.Event == s.main && s.mainKind == "patron" {
			u.stripClick(s, int(e.EventX), int(e.EventY))
			break
		}
		if e.Event == u.screens[0].box && u.showsWarning() {
			u.ackWarning()
			break
		}
		u.dismissMessage()
	case xproto.KeyPressEvent:
		switch {
		case u.formActive():
			u.formKey(e)
		case u.dismiss[e.Detail] && u.showsWarning():
			u.ackWarning()
		case u.dismiss[e.Detail]:
			u.dismissMessage()
		}
	case xproto.MappingNotifyEvent:
		u.loadKeymap(xproto.Setup(u.c))
	}
	return nil
}

// dismissMessage hides the message at once and tells the service.
func (u *xui) dismissMessage() {
	if u.cmd.MsgID == 0 {
		return
	}
	r := u.status(ReportDismissed)
	r.MsgID = u.cmd.MsgID
	u.io.report(r)
	cmd := u.cmd
	cmd.MsgID, cmd.Msg = 0, ""
	if cmd.Empty() {
		// Nothing left: hide everything and wait for the service to say so.
		u.hideAll(cmd)
		return
	}
	u.apply(cmd)
}

// closeNotice hides the notice at once and tells the service.
func (u *xui) closeNotice() {
	if u.cmd.NoticeID == 0 {
		return
	}
	u.io.report(Report{T: ReportNoticeClosed, NoticeID: u.cmd.NoticeID, Countdown: u.countdown()})
	cmd := u.cmd
	cmd.NoticeID, cmd.Notice = 0, ""
	if cmd.Empty() {
		u.hideAll(cmd)
		return
	}
	u.apply(cmd)
}

// hideAll hides every window and waits for the service to say there is
// nothing left (cmd, now current, is empty).
func (u *xui) hideAll(cmd Command) {
	for _, s := range u.screens {
		u.place(s, s.main, false, xproto.Rectangle{}, &s.mainViewable)
		u.place(s, s.box, false, xproto.Rectangle{}, &s.boxViewable)
		u.place(s, s.note, false, xproto.Rectangle{}, &s.noteViewable)
		s.wantMain, s.wantBox, s.wantNote = false, false, false
	}
	u.cmd = cmd
}
