//go:build windows

package overlay

import (
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The patron's screen on Windows: the sign-in form drawn on the lock window
// (keys come from the low-level keyboard hook, which already takes every key
// while locked), the patron's strip (a topmost tool window along the top that
// takes clicks but never the focus), and time warnings in the message box.
// Fonts are GDI's, sized in points for the screen's DPI (the helper is DPI
// aware), so 200 % scaling doubles the type.

// patronClass is the patron strip's window class.
const patronClass = "CarrelPatron"

// Colours of the patron screen (as on X11).
const (
	fieldBG    = 0xffffff
	focusFrame = 0xffd200
	patronBG   = 0x23395b
	buttonBG   = 0xf2f2f2
)

const (
	wmFormKey   = wmApp + 3 // the keyboard hook saw a key for the form (wparam: vk, lparam: modifiers)
	vkBack      = 0x08
	vkTab       = 0x09
	vkShift     = 0x10
	vkCapital   = 0x14
	vkNumpad0   = 0x60
	vkOEMMinus  = 0xBD
	vkOEMPeriod = 0xBE
	modShift    = 1
	modCaps     = 2
)

type lastInputInfo struct {
	size uint32
	time uint32
}

// patronFonts are the form's fonts, in points at the screen's DPI.
func (u *winUI) patronFonts(dpi int32) bool {
	face := windows.StringToUTF16Ptr("Segoe UI")
	const fwNormal, fwBold, defaultCharset, clearTypeQuality = 400, 700, 1, 5
	u.formTitle = createFont(-26*dpi/72, 0, 0, 0, fwBold, 0, 0, 0, defaultCharset, 0, 0, clearTypeQuality, 0, face)
	u.formFont = createFont(-18*dpi/72, 0, 0, 0, fwNormal, 0, 0, 0, defaultCharset, 0, 0, clearTypeQuality, 0, face)
	u.formSmall = createFont(-13*dpi/72, 0, 0, 0, fwNormal, 0, 0, 0, defaultCharset, 0, 0, clearTypeQuality, 0, face)
	u.dpi = dpi
	return u.formTitle != 0 && u.formFont != 0 && u.formSmall != 0
}

// formActive reports whether keys go to the sign-in form.
func (u *winUI) formActive() bool { return u.cmd.Lock && u.cmd.Patron.SignIn && !u.cmd.Patron.Busy }

// showsWarning reports whether the box shows a time warning (a staff
// message comes first).
func (u *winUI) showsWarning() bool {
	return u.cmd.Msg == "" && u.cmd.Patron.WarnID != 0 && u.cmd.Patron.WarnID != u.ackedWarn
}

// ackWarning hides the warning and tells the service.
func (u *winUI) ackWarning() {
	u.ackedWarn = u.cmd.Patron.WarnID
	u.report(Report{T: ReportWarnAck, WarnID: u.ackedWarn, Countdown: u.countdown()})
	u.layout()
}

// hookModifiers is what the keyboard hook reads of Shift and Caps Lock (the
// hook runs before the key state is updated: the async state is the truth).
func hookModifiers() uintptr {
	var m uintptr
	if getAsyncKeyState(vkShift)&0x8000 != 0 {
		m |= modShift
	}
	if getKeyState(vkCapital)&1 != 0 {
		m |= modCaps
	}
	return m
}

// formVK applies a key from the hook to the form. Characters come from the
// virtual-key code (digits, letters, the keypad, "-" and "."), not from the
// keyboard layout: card numbers and guest codes are made of those.
func (u *winUI) formVK(vk, mods uintptr) {
	shift, caps := mods&modShift != 0, mods&modCaps != 0
	var r rune
	switch {
	case vk == vkReturn:
		if rep, ok := u.form.submit(); ok {
			u.report(rep)
			rep.Wipe()
		}
		invalidateRect(u.lock, nil, false)
		return
	case vk == vkTab && shift:
		r = keyBackTab
	case vk == vkTab:
		r = '\t'
	case vk == vkBack:
		r = '\b'
	case vk == vkEscape:
		r = keyEscape
	case vk >= '0' && vk <= '9' && !shift:
		r = rune(vk)
	case vk >= 'A' && vk <= 'Z':
		r = rune(vk)
		if shift == caps {
			r += 'a' - 'A'
		}
	case vk >= vkNumpad0 && vk <= vkNumpad0+9:
		r = rune('0' + vk - vkNumpad0)
	case vk == vkOEMMinus:
		r = '-'
		if shift {
			r = '_'
		}
	case vk == vkOEMPeriod && !shift:
		r = '.'
	default:
		return
	}
	if u.form.key(r) {
		invalidateRect(u.lock, nil, false)
	}
}

// idleSeconds is the time since the session's last input (GetLastInputInfo).
func idleSeconds() int {
	li := lastInputInfo{size: uint32(unsafe.Sizeof(lastInputInfo{}))}
	if getLastInputInfo(&li) != nil {
		return 0
	}
	return int((getTickCount() - li.time) / 1000)
}

// stripRect is the patron strip's place: the top of the primary monitor.
func (u *winUI) stripRect() windows.Rect {
	p := primaryScreen()
	p.Bottom = p.Top + u.lineHeight(u.formFont) + 24*u.dpi/96
	return p
}

// winButton is a button drawn on the patron strip, in its client coordinates.
type winButton struct {
	r     windows.Rect
	label string
}

// paintStrip draws the patron strip: the time left (or the confirmation, the
// idle warning, the end) and its buttons.
func (u *winUI) paintStrip(dc windows.Handle, rc windows.Rect) {
	p := u.cmd.Patron
	fillRect(dc, &rc, u.brushes[patronBG])
	setTextColor(dc, colorRef(textFG))
	text := stripText(p, u.confirm, time.Now())
	u.shownStrip = text
	pad := 16 * u.dpi / 96
	t := windows.Rect{Left: pad, Top: rc.Top, Right: rc.Right, Bottom: rc.Bottom}
	s, _ := windows.UTF16FromString(text)
	selectObject(dc, u.formFont)
	drawText(dc, &s[0], int32(len(s)-1), &t, dtVCenter|dtSingleLine|dtNoPrefix)
	u.buttons = u.buttons[:0]
	var labels []string
	switch {
	case p.Ending:
	case u.confirm:
		labels = []string{yesButton, noButton}
	default:
		labels = []string{endButton}
	}
	x := rc.Right - pad
	for _, lab := range labels {
		w, _ := rowSize(dc, row{u.formFont, lab})
		w += 2 * pad
		b := windows.Rect{Left: x - w, Top: rc.Top + 6*u.dpi/96, Right: x, Bottom: rc.Bottom - 6*u.dpi/96}
		fillRect(dc, &b, u.brushes[buttonBG])
		frameRect(dc, &b, u.brushes[focusFrame])
		setTextColor(dc, colorRef(boxFG))
		ls, _ := windows.UTF16FromString(lab)
		selectObject(dc, u.formFont)
		bt := b
		drawText(dc, &ls[0], int32(len(ls)-1), &bt, dtCenter|dtVCenter|dtSingleLine|dtNoPrefix)
		u.buttons = append(u.buttons, winButton{r: b, label: lab})
		x -= w + 3*pad
	}
}

// stripClick acts on a click at (x, y) on the strip.
func (u *winUI) stripClick(x, y int32) {
	for _, b := range u.buttons {
		if x < b.r.Left || x >= b.r.Right || y < b.r.Top || y >= b.r.Bottom {
			continue
		}
		switch b.label {
		case endButton:
			u.confirm = true
		case noButton:
			u.confirm = false
		case yesButton:
			u.confirm = false
			u.report(Report{T: ReportEndSession, Countdown: u.countdown()})
		}
		invalidateRect(u.patron, nil, false)
		return
	}
}

// paintForm draws the sign-in form on the lock, on the primary monitor.
func (u *winUI) paintForm(dc windows.Handle, rc windows.Rect) {
	p := u.cmd.Patron
	fillRect(dc, &rc, u.brushes[lockBG])
	v, prim := virtualScreen(), primaryScreen()
	cx := (prim.Right-prim.Left)/2 - v.Left
	fh := u.lineHeight(u.formFont)
	sh := u.lineHeight(u.formSmall)
	boxW := min(fieldCols*fh*6/10+fh, prim.Right-prim.Left-40)
	// Total height, to centre the form vertically.
	th := u.lineHeight(u.formTitle)
	privacy := []string{privacyErase, privacyRecord}
	if l := cleanLine(p.CleanAt); l != "" {
		privacy = append(privacy, l)
	}
	total := th*2 + nFields*(fh*2+fh/2+12) + fh*3 + sh*int32(len(privacy)+2)
	y := max((prim.Bottom-prim.Top-total)/2, 10) - v.Top
	setTextColor(dc, colorRef(textFG))
	y = drawRows(dc, []row{{u.formTitle, signInTitle}}, cx, y) + th
	x0 := cx - boxW/2
	pad := 6 * u.dpi / 96
	for i := 0; i < nFields; i++ {
		setTextColor(dc, colorRef(textFG))
		lab, _ := windows.UTF16FromString(fieldLabels[i])
		selectObject(dc, u.formFont)
		lr := windows.Rect{Left: x0, Top: y, Right: x0 + boxW, Bottom: y + fh}
		drawText(dc, &lab[0], int32(len(lab)-1), &lr, dtSingleLine|dtNoPrefix)
		y += fh + fh/4
		box := windows.Rect{Left: x0, Top: y, Right: x0 + boxW, Bottom: y + fh + 2*pad}
		fillRect(dc, &box, u.brushes[fieldBG])
		if i == u.form.focus && !p.Busy {
			for j := int32(1); j <= 4; j++ {
				f := windows.Rect{Left: box.Left - j, Top: box.Top - j, Right: box.Right + j, Bottom: box.Bottom + j}
				frameRect(dc, &f, u.brushes[focusFrame])
			}
		}
		text := u.form.shown(i)
		if i == u.form.focus && !p.Busy {
			text += "_"
		}
		if text != "" {
			setTextColor(dc, colorRef(boxFG))
			s, _ := windows.UTF16FromString(text)
			tr := windows.Rect{Left: box.Left + 2*pad, Top: box.Top, Right: box.Right - pad, Bottom: box.Bottom}
			drawText(dc, &s[0], int32(len(s)-1), &tr, dtVCenter|dtSingleLine|dtNoPrefix)
		}
		y = box.Bottom + fh/4 + 12
	}
	setTextColor(dc, colorRef(textFG))
	y = drawRows(dc, []row{{u.formSmall, signInHint}}, cx, y) + fh/2
	if st := formStatus(p); st != "" {
		setTextColor(dc, colorRef(focusFrame))
		y = drawRows(dc, []row{{u.formFont, st}}, cx, y)
	} else {
		y += fh
	}
	y += sh
	setTextColor(dc, colorRef(textFG))
	rows := make([]row, 0, len(privacy))
	for _, l := range privacy {
		rows = append(rows, row{u.formSmall, l})
	}
	drawRows(dc, rows, cx, y)
}

// fieldCols is the widest field, in characters (a card of 32 and the cursor).
const fieldCols = 33

// warnRows is a time warning as the box draws it.
func (u *winUI) warnRows() []row {
	return []row{{u.formFont, warnTitle}, {u.textFont, ""}, {u.formFont, warnText(u.cmd.Patron.Warn)}, {u.textFont, ""}, {u.textFont, warnHint}}
}
