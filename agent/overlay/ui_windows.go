//go:build windows

package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Window classes of the helper's windows; tests find them by these.
const (
	lockClass  = "CarrelLock"      // the lock: the whole virtual screen
	stripClass = "CarrelCountdown" // the countdown strip along the top
	boxClass   = "CarrelMessage"   // a staff message
	noteClass  = "CarrelNotice"    // the patron's notice, bottom right; titled noticeWindowName
)

// Win32 constants (winuser.h, wingdi.h).
const (
	wsPopup    = 0x80000000
	wsDisabled = 0x08000000
	wsBorder   = 0x00800000

	wsExTopmost     = 0x00000008
	wsExTransparent = 0x00000020
	wsExToolWindow  = 0x00000080
	wsExLayered     = 0x00080000
	wsExNoActivate  = 0x08000000

	smCXScreen        = 0
	smCYScreen        = 1
	smXVirtualScreen  = 76
	smYVirtualScreen  = 77
	smCXVirtualScreen = 78
	smCYVirtualScreen = 79

	swpNoSize       = 0x0001
	swpNoMove       = 0x0002
	swpNoZOrder     = 0x0004
	swpNoActivate   = 0x0010
	swpShowWindow   = 0x0040
	swpHideWindow   = 0x0080
	swpNoOwnerOrder = 0x0200
	swHide          = 0
	swRestore       = 9

	wmPaint             = 0x000F
	wmClose             = 0x0010
	wmQueryEndSession   = 0x0011
	wmEraseBkgnd        = 0x0014
	wmMouseActivate     = 0x0021
	wmWindowPosChanging = 0x0046
	wmDisplayChange     = 0x007E
	wmNCHitTest         = 0x0084
	wmKeyDown           = 0x0100
	wmSysKeyDown        = 0x0104
	wmTimer             = 0x0113
	wmLButtonDown       = 0x0201
	wmRButtonDown       = 0x0204
	wmMButtonDown       = 0x0207
	wmApp               = 0x8000
	wmCommand           = wmApp + 1 // the stdin forwarder has a command (or the end)
	wmDismiss           = wmApp + 2 // the keyboard hook saw a dismiss key

	htTransparent = ^uintptr(0) // -1
	maNoActivate  = 3
	hwndTopmost   = ^windows.HWND(0) // -1

	vkReturn = 0x0D
	vkEscape = 0x1B
	vkSpace  = 0x20

	dtCenter     = 0x0001
	dtVCenter    = 0x0004
	dtSingleLine = 0x0020
	dtNoPrefix   = 0x0800 // "&" is drawn as "&": the text is never interpreted
	dtCalcRect   = 0x0400

	whKeyboardLL  = 13
	lwaAlpha      = 0x2
	logPixelsY    = 90
	idcArrow      = 32512
	bkTransparent = 1
)

type wndClassEx struct {
	size       uint32
	style      uint32
	wndProc    uintptr
	clsExtra   int32
	wndExtra   int32
	instance   windows.Handle
	icon       windows.Handle
	cursor     windows.Handle
	background windows.Handle
	menuName   *uint16
	className  *uint16
	iconSm     windows.Handle
}

type winMsg struct {
	hwnd    windows.HWND
	message uint32
	wParam  uintptr
	lParam  uintptr
	time    uint32
	pt      struct{ x, y int32 }
	private uint32
}

type paintStruct struct {
	hdc       windows.Handle
	erase     int32
	paint     windows.Rect
	restore   int32
	incUpdate int32
	reserved  [32]byte
}

type windowPos struct {
	hwnd         windows.HWND
	insertAfter  windows.HWND
	x, y, cx, cy int32
	flags        uint32
}

type kbdLLHook struct {
	vkCode, scanCode, flags, time uint32
	extra                         uintptr
}

// harden keeps the service's pipes to itself: no process started from the
// helper inherits them (under Wine, the first window of a session starts
// explorer.exe, which would hold them open after the helper died). The
// launcher gives the process a DACL the patron cannot use against it
// (helperSD).
func harden() {
	for _, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		_ = windows.SetHandleInformation(windows.Handle(f.Fd()), windows.HANDLE_FLAG_INHERIT, 0)
	}
}

// The window procedure and the keyboard hook are process-wide callbacks (Go
// can make only a few thousand); they reach the one running UI through theUI,
// which only the UI thread touches.
var (
	theUI     *winUI
	setupOnce sync.Once
	setupErr  error
	wndProcCB uintptr
	hookCB    uintptr
	instance  windows.Handle
)

func registerClasses() error {
	setupOnce.Do(func() {
		wndProcCB = syscall.NewCallback(wndProc)
		hookCB = syscall.NewCallback(keyboardHook)
		if setupErr = windows.GetModuleHandleEx(0, nil, &instance); setupErr != nil {
			setupErr = fmt.Errorf("module handle: %w", setupErr)
			return
		}
		cursor, _ := loadCursor(0, idcArrow)
		for _, name := range []string{lockClass, stripClass, boxClass, noteClass, patronClass} {
			wc := wndClassEx{wndProc: wndProcCB, instance: instance, cursor: cursor, className: windows.StringToUTF16Ptr(name)}
			wc.size = uint32(unsafe.Sizeof(wc))
			if _, err := registerClassEx(&wc); err != nil {
				setupErr = fmt.Errorf("register window class %s: %w", name, err)
				return
			}
		}
	})
	return setupErr
}

// winUI is the helper's state; only the UI thread touches it, except inbox.
type winUI struct {
	io                    *helperIO
	cmd                   Command
	lock, strip, box      windows.HWND
	note                  windows.HWND                  // the patron's notice
	want                  map[windows.HWND]windows.Rect // the windows to show, and where
	titleFont, textFont   windows.Handle
	brushes               map[uint32]windows.Handle
	hook                  windows.Handle // the keyboard hook while locked
	readySeq              uint64
	shownCountdown, ticks int
	quitting              bool // we posted WM_QUIT

	// The patron screen (patron_windows.go).
	patron                         windows.HWND // the patron's strip
	formTitle, formFont, formSmall windows.Handle
	dpi                            int32
	form                           signInForm
	confirm                        bool   // "End my session" asks for a confirmation
	ackedWarn                      uint64 // the warning the patron closed
	buttons                        []winButton
	shownStrip                     string

	mu      sync.Mutex // guards the inbox below
	next    *Command   // the latest command from stdin, not yet applied
	end     bool       // stdin ended or ctx is done
	pending bool       // a wmCommand is posted and not yet handled
}

// runUI shows first and every later command until stdin ends, the state is
// empty or ctx ends. Windows and the message loop live on one locked thread;
// the forwarder below hands commands to it through the inbox and a posted
// wmCommand.
func runUI(ctx context.Context, h *helperIO, first Command) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := registerClasses(); err != nil {
		return err
	}
	setProcessDPIAware()
	u := &winUI{io: h, want: map[windows.HWND]windows.Rect{}, brushes: map[uint32]windows.Handle{}, shownCountdown: -2}
	defer u.destroy()
	defer u.form.clear()
	if err := u.create(); err != nil {
		return err
	}
	theUI = u
	defer func() { theUI = nil }()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.forward(ctx, stop)
	}()
	defer wg.Wait()
	defer close(stop)

	timer, err := setTimer(0, 0, 250, 0) // a thread timer: WM_TIMER without a window
	if err != nil {
		return fmt.Errorf("SetTimer: %w", err)
	}
	defer killTimer(0, timer)
	u.apply(first)
	var m winMsg
	for {
		r, err := getMessage(&m, 0, 0, 0)
		if err != nil {
			return fmt.Errorf("GetMessage: %w", err)
		}
		if r == 0 {
			if u.quitting {
				return nil
			}
			continue // a WM_QUIT someone else posted to our window: not ours to obey
		}
		if m.hwnd == 0 && m.message == wmTimer {
			u.tick()
			continue
		}
		translateMessage(&m)
		dispatchMessage(&m)
	}
}

// forward hands each command from stdin (and the end of stdin or ctx) to the
// UI thread; the latest command wins.
func (u *winUI) forward(ctx context.Context, stop <-chan struct{}) {
	for {
		var c *Command
		select {
		case <-stop:
			return
		case <-ctx.Done():
		case <-u.io.eof:
		case cmd := <-u.io.cmds:
			c = &cmd
		}
		u.mu.Lock()
		if c == nil {
			u.end = true
		} else {
			u.next = c
		}
		post := !u.pending
		u.pending = true
		u.mu.Unlock()
		if post {
			_ = postMessage(u.lock, wmCommand, 0, 0)
		}
		if c == nil {
			return
		}
	}
}

func (u *winUI) create() error {
	dc := getDC(0)
	dpi := getDeviceCaps(dc, logPixelsY)
	releaseDC(0, dc)
	if dpi <= 0 {
		dpi = 96
	}
	face := windows.StringToUTF16Ptr("Segoe UI")
	const fwNormal, fwBold, defaultCharset, clearTypeQuality = 400, 700, 1, 5
	u.titleFont = createFont(-20*dpi/72, 0, 0, 0, fwBold, 0, 0, 0, defaultCharset, 0, 0, clearTypeQuality, 0, face)
	u.textFont = createFont(-14*dpi/72, 0, 0, 0, fwNormal, 0, 0, 0, defaultCharset, 0, 0, clearTypeQuality, 0, face)
	if u.titleFont == 0 || u.textFont == 0 || !u.patronFonts(dpi) {
		return errors.New("CreateFont failed")
	}
	for _, rgb := range []uint32{lockBG, stripBG, textFG, boxBG, boxFG, boxFrame, fieldBG, focusFrame, patronBG, buttonBG} {
		b := createSolidBrush(colorRef(rgb))
		if b == 0 {
			return errors.New("CreateSolidBrush failed")
		}
		u.brushes[rgb] = b
	}
	var err error
	mk := func(class string, exStyle, style uint32) windows.HWND {
		if err != nil {
			return 0
		}
		title := "Carrel"
		if class == noteClass {
			title = noticeWindowName
		}
		var hwnd windows.HWND
		hwnd, err = createWindowEx(exStyle, windows.StringToUTF16Ptr(class), windows.StringToUTF16Ptr(title), style,
			0, 0, 1, 1, 0, 0, instance, 0)
		if err != nil {
			err = fmt.Errorf("create %s window: %w", class, err)
		}
		return hwnd
	}
	u.lock = mk(lockClass, wsExTopmost|wsExToolWindow, wsPopup)
	// The strip takes no input: disabled, never activated, and clicks go
	// through it (layered and transparent) to the window below.
	u.strip = mk(stripClass, wsExTopmost|wsExToolWindow|wsExNoActivate|wsExLayered|wsExTransparent, wsPopup|wsDisabled)
	u.box = mk(boxClass, wsExTopmost|wsExToolWindow, wsPopup|wsBorder)
	// The notice is never activated: the patron's typing stays where it was.
	u.note = mk(noteClass, wsExTopmost|wsExToolWindow|wsExNoActivate, wsPopup|wsBorder)
	// The patron's strip takes clicks (its buttons) but never the focus.
	u.patron = mk(patronClass, wsExTopmost|wsExToolWindow|wsExNoActivate, wsPopup)
	if err != nil {
		return err
	}
	if err := setLayeredWindowAttributes(u.strip, 0, 255, lwaAlpha); err != nil {
		return fmt.Errorf("SetLayeredWindowAttributes: %w", err)
	}
	return nil
}

func (u *winUI) destroy() {
	u.unhook()
	for _, w := range []windows.HWND{u.lock, u.strip, u.box, u.note, u.patron} {
		if w != 0 {
			_ = destroyWindow(w)
		}
	}
	for _, f := range []windows.Handle{u.titleFont, u.textFont, u.formTitle, u.formFont, u.formSmall} {
		if f != 0 {
			deleteObject(f)
		}
	}
	for _, b := range u.brushes {
		deleteObject(b)
	}
}

// colorRef turns 0xRRGGBB into a COLORREF (0x00BBGGRR).
func colorRef(rgb uint32) uint32 {
	return (rgb&0xff)<<16 | rgb&0xff00 | (rgb>>16)&0xff
}

// quit ends the message loop.
func (u *winUI) quit() {
	if !u.quitting {
		u.quitting = true
		postQuitMessage(0)
	}
}

// report sends r; once the service is gone the helper ends.
func (u *winUI) report(r Report) {
	if !u.io.report(r) {
		u.quit()
	}
}

// countdown returns the seconds left, or -1 without a countdown.
func (u *winUI) countdown() int {
	if u.cmd.EndsAt == 0 {
		return -1
	}
	left := time.Until(time.UnixMilli(u.cmd.EndsAt))
	return max(int((left+time.Second-1)/time.Second), 0)
}

// Screen geometry: the lock covers the virtual screen (every monitor); the
// strip and the message box sit on the primary monitor, whose top left corner
// is (0, 0).
func virtualScreen() windows.Rect {
	x, y := getSystemMetrics(smXVirtualScreen), getSystemMetrics(smYVirtualScreen)
	return windows.Rect{Left: x, Top: y, Right: x + getSystemMetrics(smCXVirtualScreen), Bottom: y + getSystemMetrics(smCYVirtualScreen)}
}

func primaryScreen() windows.Rect {
	return windows.Rect{Right: getSystemMetrics(smCXScreen), Bottom: getSystemMetrics(smCYScreen)}
}

// apply puts cmd on screen.
func (u *winUI) apply(cmd Command) {
	if cmd.Empty() {
		u.quit()
		return
	}
	newMsg := cmd.MsgID != 0 && cmd.MsgID != u.cmd.MsgID ||
		cmd.Patron.WarnID != 0 && cmd.Patron.WarnID != u.cmd.Patron.WarnID && cmd.Patron.WarnID != u.ackedWarn
	u.form.sync(cmd.Patron, cmd.Lock)
	if cmd.Patron.EndsAt == 0 || cmd.Patron.Ending {
		u.confirm = false
	}
	u.cmd = cmd
	u.layout()
	switch {
	case cmd.Lock:
		u.hookKeyboard()
		setForegroundWindow(u.lock)
	case newMsg:
		u.unhook()
		setForegroundWindow(u.box) // Enter reaches it (if Windows lets us take the foreground)
	default:
		u.unhook()
	}
	u.checkReady()
}

// layout decides which windows show where, and shows, moves or hides them.
func (u *winUI) layout() {
	clear(u.want)
	if u.cmd.Lock {
		u.want[u.lock] = virtualScreen()
	} else if u.cmd.EndsAt != 0 {
		p := primaryScreen()
		p.Bottom = p.Top + 2*u.lineHeight(u.titleFont)
		u.want[u.strip] = p
	} else if u.cmd.Patron.EndsAt != 0 {
		u.want[u.patron] = u.stripRect()
	}
	if !u.cmd.Lock && (u.cmd.Msg != "" || u.showsWarning()) {
		u.want[u.box] = u.boxRect()
	}
	if !u.cmd.Lock && u.cmd.Notice != "" {
		u.want[u.note] = u.noteRect()
	}
	for _, w := range []windows.HWND{u.lock, u.strip, u.box, u.note, u.patron} {
		if _, ok := u.want[w]; !ok {
			showWindow(w, swHide)
		}
	}
	u.raise()
	for w := range u.want {
		invalidateRect(w, nil, false)
		updateWindow(w) // painted now: "ready" means on screen
	}
	u.shownCountdown = u.countdown()
}

// raise puts every wanted window back where it belongs, shown and topmost,
// whatever another program did to it.
func (u *winUI) raise() {
	for w, r := range u.want {
		if isIconic(w) {
			showWindow(w, swRestore)
		}
		_ = setWindowPos(w, hwndTopmost, r.Left, r.Top, r.Right-r.Left, r.Bottom-r.Top, swpNoActivate|swpShowWindow|swpNoOwnerOrder)
	}
}

// checkReady reports ready once every wanted window is visible.
func (u *winUI) checkReady() {
	if u.readySeq == u.cmd.Seq && u.readySeq != 0 {
		return
	}
	for w := range u.want {
		if !windows.IsWindowVisible(w) {
			return
		}
	}
	u.readySeq = u.cmd.Seq
	u.report(u.status(ReportReady))
}

func (u *winUI) status(kind string) Report {
	n := 0
	for w := range u.want {
		if windows.IsWindowVisible(w) {
			n++
		}
	}
	r := Report{T: kind, Lock: u.cmd.Lock, Grabbed: u.hook != 0, Countdown: u.countdown(), Windows: n}
	if kind != ReportDismissed && kind != ReportNoticeClosed {
		r.Seq, r.MsgID, r.NoticeID = u.readySeq, u.cmd.MsgID, u.cmd.NoticeID
	}
	if kind == ReportAlive {
		r.Idle = idleSeconds()
		if u.showsWarning() {
			r.WarnID = u.cmd.Patron.WarnID
		}
	}
	return r
}

// tick runs four times a second: back on top, the countdown, a heartbeat
// every other time.
func (u *winUI) tick() {
	u.ticks++
	u.raise()
	if u.cmd.Lock {
		u.hookKeyboard()
		if windows.GetForegroundWindow() != u.lock {
			setForegroundWindow(u.lock)
		}
	}
	if n := u.countdown(); n != u.shownCountdown {
		u.shownCountdown = n
		for w := range u.want {
			invalidateRect(w, nil, false)
		}
	}
	if _, ok := u.want[u.patron]; ok && stripText(u.cmd.Patron, u.confirm, time.Now()) != u.shownStrip {
		invalidateRect(u.patron, nil, false)
	}
	u.checkReady()
	if u.ticks%2 == 0 {
		u.report(u.status(ReportAlive))
	}
}

// hookKeyboard takes the keyboard while locked: a low-level hook swallows
// every key (Alt+Tab, the Windows key, typing into a program behind the lock);
// Ctrl+Alt+Del and Win+L are the system's, below any hook.
func (u *winUI) hookKeyboard() {
	if u.hook != 0 {
		return
	}
	h, err := setWindowsHookEx(whKeyboardLL, hookCB, instance, 0)
	if err == nil {
		u.hook = h
	}
}

func (u *winUI) unhook() {
	if u.hook != 0 {
		_ = unhookWindowsHookEx(u.hook)
		u.hook = 0
	}
}

func isDismissKey(vk uintptr) bool { return vk == vkReturn || vk == vkEscape || vk == vkSpace }

// keyboardHook runs on the UI thread (inside GetMessage) for every key while
// locked; a dismiss key is handled after it returns.
func keyboardHook(code, wparam, lparam uintptr) uintptr {
	u := theUI
	if int32(code) != 0 || u == nil || !u.cmd.Lock {
		return callNextHookEx(0, int32(code), wparam, lparam)
	}
	kb := *(**kbdLLHook)(unsafe.Pointer(&lparam)) // lparam points to memory Windows owns
	if u.formActive() {
		if wparam == wmKeyDown || wparam == wmSysKeyDown {
			_ = postMessage(u.lock, wmFormKey, uintptr(kb.vkCode), hookModifiers())
		}
		return 1 // swallowed: typed into the form only
	}
	if (wparam == wmKeyDown || wparam == wmSysKeyDown) && isDismissKey(uintptr(kb.vkCode)) {
		_ = postMessage(u.lock, wmDismiss, 0, 0)
	}
	return 1 // swallowed
}

// dismissMessage hides the message at once and tells the service.
func (u *winUI) dismissMessage() {
	if u.cmd.MsgID == 0 {
		return
	}
	r := u.status(ReportDismissed)
	r.MsgID = u.cmd.MsgID
	u.report(r)
	cmd := u.cmd
	cmd.MsgID, cmd.Msg = 0, ""
	if cmd.Empty() {
		// Nothing left: hide everything and wait for the service to say so.
		u.cmd = cmd
		u.layout()
		return
	}
	u.apply(cmd)
}

// closeNotice hides the notice at once and tells the service.
func (u *winUI) closeNotice() {
	if u.cmd.NoticeID == 0 {
		return
	}
	u.report(Report{T: ReportNoticeClosed, NoticeID: u.cmd.NoticeID, Countdown: u.countdown()})
	cmd := u.cmd
	cmd.NoticeID, cmd.Notice = 0, ""
	if cmd.Empty() {
		u.cmd = cmd
		u.layout()
		return
	}
	u.apply(cmd)
}

// takeCommand applies the latest command from the inbox, or ends the UI.
func (u *winUI) takeCommand() {
	u.mu.Lock()
	c, end := u.next, u.end
	u.next, u.pending = nil, false
	u.mu.Unlock()
	switch {
	case end:
		u.quit()
	case c != nil:
		u.apply(*c)
	}
}

func wndProc(hwnd, msg, wparam, lparam uintptr) uintptr {
	u := theUI
	w := windows.HWND(hwnd)
	if u == nil || (w != u.lock && w != u.strip && w != u.box && w != u.note && w != u.patron) {
		return defWindowProc(w, uint32(msg), wparam, lparam)
	}
	switch uint32(msg) {
	case wmCommand:
		u.takeCommand()
		return 0
	case wmDismiss:
		u.dismissMessage()
		return 0
	case wmFormKey:
		if u.formActive() {
			u.formVK(wparam, lparam)
		}
		return 0
	case wmPaint:
		u.paint(w)
		return 0
	case wmEraseBkgnd:
		return 1 // wmPaint fills everything
	case wmClose:
		return 0 // Alt+F4 and friends: never
	case wmQueryEndSession:
		return 1 // a logoff may go ahead
	case wmWindowPosChanging:
		// Whoever moves, hides or lowers a wanted window, it stays put.
		if r, ok := u.want[w]; ok {
			wp := *(**windowPos)(unsafe.Pointer(&lparam)) // lparam points to memory Windows owns
			wp.flags &^= swpHideWindow | swpNoMove | swpNoSize | swpNoZOrder
			wp.insertAfter = hwndTopmost
			wp.x, wp.y, wp.cx, wp.cy = r.Left, r.Top, r.Right-r.Left, r.Bottom-r.Top
		}
		return 0
	case wmDisplayChange:
		u.layout()
		return 0
	case wmNCHitTest:
		if w == u.strip {
			return htTransparent
		}
	case wmMouseActivate:
		if w == u.strip || w == u.note || w == u.patron {
			return maNoActivate
		}
	case wmLButtonDown, wmRButtonDown, wmMButtonDown:
		switch {
		case w == u.note:
			u.closeNotice()
		case w == u.patron:
			if uint32(msg) == wmLButtonDown {
				u.stripClick(int32(int16(lparam&0xffff)), int32(int16(lparam>>16&0xffff)))
			}
		case w == u.box && u.showsWarning():
			u.ackWarning()
		default:
			u.dismissMessage()
		}
		return 0
	case wmKeyDown, wmSysKeyDown:
		switch {
		case isDismissKey(wparam) && u.showsWarning():
			u.ackWarning()
		case isDismissKey(wparam):
			u.dismissMessage()
		}
		return 0
	}
	return defWindowProc(w, uint32(msg), wparam, lparam)
}

// row is one line of text in a font.
type row struct {
	font windows.Handle
	text string
}

// messageRows is a staff message as drawn: title, the wrapped text, the hint.
func (u *winUI) messageRows(hint bool) []row {
	rows := []row{{u.titleFont, messageTitle}, {u.textFont, ""}}
	for _, l := range messageLines(u.cmd.Msg, 60) {
		rows = append(rows, row{u.textFont, l})
	}
	if hint {
		rows = append(rows, row{u.textFont, ""}, row{u.textFont, messageHint})
	}
	return rows
}

// measure returns the width and height of rows drawn one below the other.
func measure(dc windows.Handle, rows []row) (w, h int32) {
	for _, r := range rows {
		rw, rh := rowSize(dc, r)
		w, h = max(w, rw), h+rh
	}
	return w, h
}

// rowSize measures one row; it selects the row's font into dc.
func rowSize(dc windows.Handle, r row) (w, h int32) {
	selectObject(dc, r.font)
	text := r.text
	if text == "" {
		text = " " // an empty row still takes a line
	}
	s, _ := windows.UTF16FromString(text)
	var rc windows.Rect
	drawText(dc, &s[0], int32(len(s)-1), &rc, dtCalcRect|dtSingleLine|dtNoPrefix)
	return rc.Right - rc.Left, rc.Bottom - rc.Top
}

// drawRows draws rows centred on cx, from top y down; it returns the y below.
func drawRows(dc windows.Handle, rows []row, cx, y int32) int32 {
	for _, r := range rows {
		w, h := rowSize(dc, r)
		if r.text != "" {
			s, _ := windows.UTF16FromString(r.text)
			rc := windows.Rect{Left: cx - w/2 - 1, Top: y, Right: cx + w/2 + 1, Bottom: y + h}
			drawText(dc, &s[0], int32(len(s)-1), &rc, dtCenter|dtSingleLine|dtNoPrefix)
		}
		y += h
	}
	return y
}

func (u *winUI) lineHeight(font windows.Handle) int32 {
	dc := getDC(0)
	defer releaseDC(0, dc)
	_, h := rowSize(dc, row{font, "Xg"})
	return h
}

func (u *winUI) boxRect() windows.Rect {
	dc := getDC(0)
	rows := u.messageRows(true)
	if u.showsWarning() {
		rows = u.warnRows()
	}
	w, h := measure(dc, rows)
	releaseDC(0, dc)
	p := primaryScreen()
	w, h = min(w+80, p.Right), min(h+60, p.Bottom)
	x, y := (p.Right-w)/2, (p.Bottom-h)/2
	return windows.Rect{Left: x, Top: y, Right: x + w, Bottom: y + h}
}

// noticeRows is the notice as drawn: title, the wrapped text, the hint.
func (u *winUI) noticeRows() []row {
	rows := []row{{u.titleFont, noticeTitle}}
	for _, l := range noticeLines(u.cmd.Notice) {
		rows = append(rows, row{u.textFont, l})
	}
	return append(rows, row{u.textFont, ""}, row{u.textFont, noticeHint})
}

// noteRect is the notice's place: the bottom right of the primary monitor,
// above where the task bar sits.
func (u *winUI) noteRect() windows.Rect {
	dc := getDC(0)
	w, h := measure(dc, u.noticeRows())
	releaseDC(0, dc)
	p := primaryScreen()
	w, h = min(w+40, p.Right), min(h+24, p.Bottom)
	x, y := max(p.Right-w-16, 0), max(p.Bottom-h-56, 0)
	return windows.Rect{Left: x, Top: y, Right: x + w, Bottom: y + h}
}

func (u *winUI) paint(w windows.HWND) {
	var ps paintStruct
	dc := beginPaint(w, &ps)
	if dc == 0 {
		return
	}
	defer endPaint(w, &ps)
	var rc windows.Rect
	_ = getClientRect(w, &rc)
	setBkMode(dc, bkTransparent)
	switch w {
	case u.lock:
		if u.cmd.Patron.SignIn {
			u.paintForm(dc, rc)
			break
		}
		fillRect(dc, &rc, u.brushes[lockBG])
		setTextColor(dc, colorRef(textFG))
		// Text on the primary monitor, which sits at (0, 0) of the virtual screen.
		v, p := virtualScreen(), primaryScreen()
		cx, y := (p.Right-p.Left)/2-v.Left, p.Bottom/3-v.Top
		rows := []row{{u.titleFont, LockNotice}, {u.textFont, ""}}
		if n := u.countdown(); n >= 0 {
			rows = append(rows, row{u.textFont, fmt.Sprintf(countdownText, n)}, row{u.textFont, ""})
		}
		if u.cmd.Msg != "" {
			rows = append(rows, u.messageRows(true)...)
		}
		drawRows(dc, rows, cx, y)
	case u.strip:
		fillRect(dc, &rc, u.brushes[stripBG])
		setTextColor(dc, colorRef(textFG))
		s, _ := windows.UTF16FromString(fmt.Sprintf(countdownText, max(u.countdown(), 0)))
		selectObject(dc, u.titleFont)
		drawText(dc, &s[0], int32(len(s)-1), &rc, dtCenter|dtVCenter|dtSingleLine|dtNoPrefix)
	case u.patron:
		u.paintStrip(dc, rc)
	case u.box:
		fillRect(dc, &rc, u.brushes[boxBG])
		frame := u.brushes[boxFrame]
		rows := u.messageRows(true)
		if u.showsWarning() {
			frame, rows = u.brushes[focusFrame], u.warnRows()
		}
		for i := int32(0); i < 3; i++ {
			f := windows.Rect{Left: rc.Left + i, Top: rc.Top + i, Right: rc.Right - i, Bottom: rc.Bottom - i}
			frameRect(dc, &f, frame)
		}
		setTextColor(dc, colorRef(boxFG))
		_, h := measure(dc, rows)
		drawRows(dc, rows, (rc.Right-rc.Left)/2, (rc.Bottom-rc.Top-h)/2)
	case u.note:
		fillRect(dc, &rc, u.brushes[boxBG])
		frameRect(dc, &rc, u.brushes[boxFrame])
		setTextColor(dc, colorRef(boxFG))
		rows := u.noticeRows()
		_, h := measure(dc, rows)
		drawRows(dc, rows, (rc.Right-rc.Left)/2, (rc.Bottom-rc.Top-h)/2)
	}
}
