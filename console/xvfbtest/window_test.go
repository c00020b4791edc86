// Package xvfbtest runs the real carrel-console binary (cgo, OpenGL on llvmpipe)
// in a real X server (Xvfb) against a staff hub over real TLS, logs in with the
// keyboard, screenshots the room, clicks a tile with the mouse and checks the
// detail opened.
//
// It runs only with CARREL_XVFB=1 (it builds the console with cgo and -race,
// and carrel-agent and carrel-hub with -race, minutes on a cold cache, so a
// plain "go test ./..." on a shared machine skips it), and then needs Xvfb,
// xdotool and ImageMagick's import on PATH and the Fyne build dependencies: a
// missing tool fails the test. Screenshots are left in artifacts/console/ at
// the repository root.
//
// TestRealHub (realhub_test.go) runs it against a real carrel-hub serve with
// three real carrel-agent processes enrolled and online, and locks one from
// the window. TestRealWindow runs it against the real hub in the test process
// (internal/testrig/hubrig) with thirty enrolled terminals on the agent's link
// client whose statuses the test sets: a room in every state (which real
// agents on one test machine cannot show), the end-session confirmation
// dialog, an unread-alert badge and the events as sentences.
// TestRealWindowFirstRun opens the console on a hub with no staff account:
// first-run setup first, typed in, then the TOTP QR code.
package xvfbtest

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/hubrig"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getenv("CARREL_XVFB") != "1" {
		t.Skip("set CARREL_XVFB=1 to run the real-window test (needs Xvfb, xdotool, ImageMagick, cgo)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the real-window test needs Xvfb, xdotool and ImageMagick", tool)
		}
	}
}

// artifacts is artifacts/console at the repository root, where the
// screenshots are left.
func artifacts(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "artifacts", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startX starts Xvfb on a free display and returns DISPLAY.
func startX(t *testing.T) string {
	t.Helper()
	for n := 90; n < 140; n++ {
		sock := fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		if _, err := os.Stat(sock); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		disp := fmt.Sprintf(":%d", n)
		x := testbin.Start(t, "Xvfb "+disp, nil, "Xvfb", disp, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		up := false
		testbin.WaitFor(t, 10*time.Second, "Xvfb to serve "+disp, func() bool {
			select {
			case <-x.Done():
				return true // another server took the display first: try the next
			default:
			}
			_, err := os.Stat(sock)
			up = err == nil
			return up
		})
		if up {
			return disp
		}
		t.Logf("Xvfb %s exited (%v): %s", disp, x.Err(), x.Output())
	}
	t.Fatal("no free X display for Xvfb")
	return ""
}

// window is carrel-console on its own X server, started by openWindow.
type window struct {
	t   *testing.T
	app *testbin.Proc
	// env is the console's environment (DISPLAY, HOME, ...), and so also
	// import's and xdotool's.
	env   []string
	state string // the console's --test-state-file: the screen it shows
}

// openWindow starts an X server and carrel-console (bin) on it, logged in to
// nothing yet, pointed at the hub at hubURL; its home and state file are
// under dir. Both stop when t ends.
func openWindow(t *testing.T, bin, dir, hubURL, fingerprint string) *window {
	t.Helper()
	disp := startX(t)
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	w := &window{t: t, state: filepath.Join(dir, "state")}
	w.env = append(os.Environ(), "DISPLAY="+disp, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"LANG=en_US.UTF-8", "FYNE_SCALE=1", "GORACE=halt_on_error=1")
	w.app = testbin.Start(t, "carrel-console", w.env, bin, "--hub", hubURL, "--fingerprint", fingerprint, "--test-state-file", w.state)
	return w
}

// alive fails the test if the console has exited.
func (w *window) alive() {
	w.t.Helper()
	select {
	case <-w.app.Done():
		w.t.Fatalf("the console exited (%v):\n%s", w.app.Err(), w.app.Output())
	default:
	}
}

// states is what the console reports it shows, a line each ("login",
// "room", "terminals:30", "detail:ID").
func (w *window) states() []string {
	w.t.Helper()
	w.alive()
	b, _ := os.ReadFile(w.state)
	return strings.Split(string(b), "\n")
}

// hasState is a WaitFor condition: the console reports s.
func (w *window) hasState(s string) func() bool {
	return func() bool { return slices.Contains(w.states(), s) }
}

// login waits for the login screen (its screenshot saved to shot) and logs in
// with the keyboard, then waits for the room. code is called just before the
// code is typed.
func (w *window) login(shot, user, password string, code func() string) {
	w.t.Helper()
	testbin.WaitFor(w.t, 60*time.Second, "the login screen", w.hasState("login"))
	testbin.WaitFor(w.t, 20*time.Second, "the window to be mapped", func() bool {
		return variance(w.screenshot(shot)) > 50
	})
	// No window manager: focus follows the pointer. Type into the focused user
	// field, then tab through password and code.
	w.xdotool("mousemove", "600", "30")
	w.xdotool("type", "--delay", "30", user)
	w.xdotool("key", "Tab")
	w.xdotool("type", "--delay", "30", password)
	w.xdotool("key", "Tab")
	w.xdotool("type", "--delay", "30", code())
	w.xdotool("key", "Return")
	testbin.WaitFor(w.t, 30*time.Second, "the room after login", w.hasState("room"))
}

// click clicks at p.
// openTab clicks along the tab bar until the console says the named tab is
// open: the tabs' widths follow the font, and which tabs there are follows the
// role, so no test counts on a tab's position.
func (w *window) openTab(name string) {
	w.t.Helper()
	o := w.origin()
	for x := 20; x < 1100; x += 25 {
		w.click(o.Add(image.Pt(x, 62)))
		deadline := time.Now().Add(400 * time.Millisecond)
		for time.Now().Before(deadline) {
			if slices.Contains(w.states(), "tab:"+name) {
				return
			}
			time.Sleep(20 * time.Millisecond) // polling the state file, bounded by the deadline
		}
	}
	w.t.Fatalf("no %s tab found on the tab bar; states %q", name, w.states())
}

func (w *window) click(p image.Point) {
	w.t.Helper()
	w.xdotool("mousemove", fmt.Sprint(p.X), fmt.Sprint(p.Y), "click", "1")
}

// waitDetail waits until the detail pane differs from the room screenshot
// (the new one saved to shot) and returns the new screenshot, the share of
// the pane that changed, and the danger-coloured bands in the pane (its
// buttons), topmost first; it fails the test if there are none.
func (w *window) waitDetail(room image.Image, shot string) (img image.Image, changed float64, buttons []image.Rectangle) {
	w.t.Helper()
	b := room.Bounds()
	right := image.Rect(b.Min.X+b.Dx()*65/100, b.Min.Y+150, b.Min.X+1200, b.Min.Y+700)
	testbin.WaitFor(w.t, 20*time.Second, "the detail pane to change", func() bool {
		img = w.screenshot(shot)
		changed = differs(room, img, right)
		return changed > 0.05
	})
	pane := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(b.Min.X+b.Dx()*58/100, b.Min.Y+150, b.Max.X, b.Max.Y))
	buttons = bands(pane, danger)
	if len(buttons) == 0 {
		w.t.Fatal("no danger-coloured button in the detail pane")
	}
	return img, changed, buttons
}

// screenshot captures the whole screen with ImageMagick's import.
func (w *window) screenshot(path string) image.Image {
	w.t.Helper()
	cmd := exec.Command("import", "-window", "root", path)
	cmd.Env = w.env
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("import: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		w.t.Fatal(err)
	}
	return img
}

func (w *window) xdotool(args ...string) {
	w.t.Helper()
	cmd := exec.Command("xdotool", args...)
	cmd.Env = w.env
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("xdotool %v: %v: %s", args, err, out)
	}
}

// variance is the variance of the pixels' luminance.
func variance(img image.Image) float64 {
	b := img.Bounds()
	var sum, sq, n float64
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += l
			sq += l * l
			n++
		}
	}
	m := sum / n
	return sq/n - m*m
}

func near(c color.Color, want color.NRGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, w uint8) int {
		x := int(a>>8) - int(w)
		if x < 0 {
			return -x
		}
		return x
	}
	return d(r, want.R) < 6 && d(g, want.G) < 6 && d(b, want.B) < 6
}

// region is the bounding box of pixels of one colour, in rows grouped into
// bands; it returns the bands (header chip, tile).
func bands(img image.Image, want color.NRGBA) []image.Rectangle {
	b := img.Bounds()
	var out []image.Rectangle
	var cur *image.Rectangle
	for y := b.Min.Y; y < b.Max.Y; y++ {
		minX, maxX := -1, -1
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y), want) {
				if minX < 0 {
					minX = x
				}
				maxX = x
			}
		}
		if minX < 0 {
			cur = nil
			continue
		}
		if cur == nil {
			out = append(out, image.Rect(minX, y, maxX+1, y+1))
			cur = &out[len(out)-1]
			continue
		}
		*cur = cur.Union(image.Rect(minX, y, maxX+1, y+1))
	}
	return out
}

func countColour(img image.Image, want color.NRGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y), want) {
				n++
			}
		}
	}
	return n
}

// middle is the centre of r.
func middle(r image.Rectangle) image.Point {
	return image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
}

// differs is the share of pixels in r that differ between a and b.
func differs(a, b image.Image, r image.Rectangle) float64 {
	n, d := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			n++
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				d++
			}
		}
	}
	return float64(d) / float64(n)
}

var (
	free  = color.NRGBA{0x2E, 0x7D, 0x32, 0xFF}
	inUse = color.NRGBA{0x15, 0x65, 0xC0, 0xFF}
	dirty = color.NRGBA{0xC6, 0x28, 0x28, 0xFF}
	// primary is the dark theme's primary colour (the login and setup buttons).
	primary = color.NRGBA{0x29, 0x6F, 0xF6, 0xFF}
	// badge is the unread-alert badge on a tile (and the selected tile's ring).
	badge = color.NRGBA{0xFF, 0xD5, 0x4F, 0xFF}
	// danger is Fyne's default dark theme's error colour (danger buttons).
	danger = color.NRGBA{0xF4, 0x43, 0x36, 0xFF}
)

// room fills the rig with thirty terminals in every display state (pc-01 to
// pc-30, at index 1 to 30): real enrolled terminals reporting the status set
// here, two of them gone offline, and pc-17 dirty with its wipe.dirty event
// stored.
func room(t *testing.T, r *hubrig.Rig) []*hubrig.Terminal {
	now := time.Now()
	terms := make([]*hubrig.Terminal, 31)
	for i := 1; i <= 30; i++ {
		st := protocol.SessionFree
		switch {
		case i%3 == 0:
			st = protocol.SessionInUse
		case i%7 == 0:
			st = protocol.SessionLocked
		}
		if i == 17 {
			st = protocol.SessionDirty
		}
		terms[i] = r.AddTerminal(t, fmt.Sprintf("pc-%02d", i), protocol.Status{Hostname: fmt.Sprintf("pc-%02d.branch.local", i),
			OS: "linux", OSVersion: "debian 12.7", Arch: "amd64", AgentVersion: "0.1.0", BootTime: now.Add(-30 * time.Hour),
			AgentStarted: now.Add(-5 * time.Hour), CPUPercent: float64(i), MemUsed: 3 << 30, MemTotal: 8 << 30,
			DiskUsed: 50 << 30, DiskTotal: 120 << 30, Session: st, SessionSince: now.Add(-time.Duration(i) * 7 * time.Minute),
			LastWipe: "clean 380ms", CertExpires: now.Add(80 * 24 * time.Hour)})
	}
	for i := 11; i <= 30; i += 11 {
		terms[i].Disconnect(t)
	}
	x := terms[17]
	r.EventID(t, x.ID, x.Emit(t, protocol.EventWipeDirty, protocol.SeverityAlert, map[string]string{protocol.DataReason: "left Documents/cv.docx"}))
	return terms
}

// commands are the commands the room's terminals carried out.
func commands(terms []*hubrig.Terminal) (out []string) {
	for _, x := range terms[1:] {
		for _, c := range x.Commands() {
			out = append(out, x.ID+" "+string(c.Action))
		}
	}
	return out
}

// TestRealWindow drives the console against a real hub (hubrig, in the test
// process) with thirty real terminals in every display state, a dirty
// tile's detail (End session disabled: nobody uses it), an end-session on an
// in-use PC that reaches the terminal only after its confirmation dialog, an
// unread-alert badge and the Events tab. Screenshots: room30-*.png.
func TestRealWindow(t *testing.T) {
	need(t, "Xvfb", "xdotool", "import")
	art := artifacts(t)
	tmp := t.TempDir()

	bin, _, _ := buildBinaries(t)

	// The hub stops after the console (whose cleanup is registered later).
	r := hubrig.Start(t, hubrig.Options{})
	c := hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	if err := c.SetHub(r.URL(), r.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	ann := r.Setup(t, c, "ann", "correct horse battery")
	c.Close()
	terms := room(t, r)
	dirtyID := terms[17].ID

	w := openWindow(t, bin, tmp, r.URL(), r.Fingerprint())
	loginPNG := filepath.Join(art, "room30-login.png")
	w.login(loginPNG, ann.User, ann.Password, func() string { return ann.Code(t) })
	testbin.WaitFor(t, 30*time.Second, "30 terminals loaded", w.hasState("terminals:30"))

	roomPNG := filepath.Join(art, "room30-room.png")
	var shot image.Image
	testbin.WaitFor(t, 20*time.Second, "tiles on screen", func() bool {
		shot = w.screenshot(roomPNG)
		return countColour(shot, free) > 20000 && countColour(shot, inUse) > 10000 && len(bands(shot, dirty)) >= 2
	})
	if v := variance(shot); v < 200 {
		t.Fatalf("room screenshot looks blank: luminance variance %.0f", v)
	}
	// The dirty terminal's tile is the lowest band of the dirty colour (the
	// header's count chip is above it). Click its middle.
	bs := bands(shot, dirty)
	tile := bs[len(bs)-1]
	if tile.Dy() < 40 || tile.Dx() < 100 {
		t.Fatalf("dirty tile region %v too small for a tile (bands %v)", tile, bs)
	}
	w.click(middle(tile))
	testbin.WaitFor(t, 20*time.Second, "the detail of pc-17", w.hasState("detail:"+dirtyID))

	// The dirty PC's detail: nobody is using it, so End session is disabled
	// (grey) with the reason under the buttons.
	detailPNG := filepath.Join(art, "room30-detail.png")
	dirtyShot, changed, _ := w.waitDetail(shot, detailPNG)

	// End the session on an in-use PC with the mouse: click the first in-use
	// tile of the lowest row of in-use tiles (the header's chip is above).
	// Its red "End session" button is the topmost danger-coloured band in
	// the detail pane; it asks first, and the dialog's own red button sends
	// the command.
	ib := bands(shot, inUse)
	row := ib[len(ib)-1]
	runs := tileRuns(shot, middle(row).Y, 100, func(x, y int) bool { return near(shot.At(x, y), inUse) })
	if len(runs) == 0 {
		t.Fatalf("no in-use tile on row %d (bands %v)", middle(row).Y, ib)
	}
	w.click(middle(runs[0]))
	var usedID string
	testbin.WaitFor(t, 20*time.Second, "the detail of an in-use PC", func() bool {
		for _, s := range w.states() {
			if id, ok := strings.CutPrefix(s, "detail:"); ok && id != dirtyID {
				usedID = id
			}
		}
		return usedID != ""
	})
	usedIdx := slices.IndexFunc(terms[1:], func(x *hubrig.Terminal) bool { return x.ID == usedID }) + 1
	if usedIdx%3 != 0 {
		t.Fatalf("the click opened pc-%02d (%s), not an in-use PC", usedIdx, usedID)
	}
	// Its End session button is red where the dirty PC's was grey.
	usedPNG := filepath.Join(art, "room30-detail-inuse.png")
	var second image.Image
	dirtyRed := countColour(dirtyShot, danger)
	testbin.WaitFor(t, 20*time.Second, "End session enabled in the detail", func() bool {
		second = w.screenshot(usedPNG)
		return countColour(second, danger) > dirtyRed+1000
	})
	b := second.Bounds()
	red := bands(second.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(b.Min.X+b.Dx()*58/100, b.Min.Y+150, b.Max.X, b.Max.Y)), danger)
	redBefore := countColour(second, danger)
	w.click(middle(red[0]))
	confirmPNG := filepath.Join(art, "room30-confirm.png")
	var yes image.Rectangle
	testbin.WaitFor(t, 20*time.Second, "the confirmation dialog", func() bool {
		img := w.screenshot(confirmPNG)
		// The dialog dims everything behind it: the four red buttons lose their
		// colour, and the only full-colour danger button is the dialog's.
		if countColour(img, danger) > redBefore/2 {
			return false
		}
		for _, r := range bands(img, danger) {
			if r.Dx() > 40 && r.Dy() > 20 {
				yes = r
				return true
			}
		}
		return false
	})
	if got := commands(terms); len(got) != 0 {
		t.Fatalf("%d commands carried out before the confirmation: %q", len(got), got)
	}
	w.click(middle(yes))
	testbin.WaitFor(t, 20*time.Second, "the end-session to reach a terminal", func() bool { return len(commands(terms)) > 0 })
	if got, want := commands(terms), usedID+" "+string(protocol.ActionEndSession); len(got) != 1 || got[0] != want {
		t.Fatalf("the terminals carried out %q, want one end-session on the in-use PC (%s)", got, usedID)
	}
	t.Logf("screenshots: %s %s %s %s %s (detail region changed %.0f%%)", loginPNG, roomPNG, detailPNG, usedPNG, confirmPNG, 100*changed)

	// A download blocked on the PC before the one whose detail is open (free,
	// on screen beside it or just above: the room may have scrolled to the
	// clicked tile): its tile gets a yellow badge with the count, without a
	// click.
	before := countColour(w.screenshot(filepath.Join(tmp, "before-badge.png")), badge)
	x := terms[usedIdx-1]
	blocked := protocol.DownloadBlocked{ID: "q-xvfb", Name: "invoice.exe", SHA256: strings.Repeat("0", 64), Size: 4096, Reason: "PE executable"}
	r.EventID(t, x.ID, x.Emit(t, protocol.EventDownloadBlocked, protocol.SeverityAlert, blocked.Data()))
	badgePNG := filepath.Join(art, "room30-badge.png")
	testbin.WaitFor(t, 20*time.Second, fmt.Sprintf("the badge on pc-%02d", usedIdx-1), func() bool {
		return countColour(w.screenshot(badgePNG), badge) > before+150
	})

	// The Events tab reads the blocked download as a sentence.
	origin := w.origin()
	w.click(origin.Add(image.Pt(95, 62)))
	testbin.WaitFor(t, 20*time.Second, "the Events tab", w.hasState("tab:Events"))
	eventsPNG := filepath.Join(art, "room30-events.png")
	// Drawn once the room's tiles are gone from the screen.
	testbin.WaitFor(t, 20*time.Second, "the events list drawn", func() bool {
		img := w.screenshot(eventsPNG)
		return countColour(img, free) < 1000 && variance(img) > 50
	})
	t.Logf("screenshots: %s %s", badgePNG, eventsPNG)
	w.alive()
}

// TestRealWindowFirstRun starts the console on a hub that has no staff
// account: it opens on first-run setup (naming the hub and its fingerprint),
// the keyboard fills in the hub's setup code and the first admin, and the
// TOTP screen shows the QR code. Screenshots: firstrun-*.png.
func TestRealWindowFirstRun(t *testing.T) {
	need(t, "Xvfb", "xdotool", "import")
	art := artifacts(t)
	tmp := t.TempDir()
	bin, _, _ := buildBinaries(t)
	r := hubrig.Start(t, hubrig.Options{})
	code := r.SetupCode()
	if code == "" {
		t.Fatal("a new hub has no setup code")
	}
	w := openWindow(t, bin, tmp, r.URL(), r.Fingerprint())
	testbin.WaitFor(t, 60*time.Second, "the setup screen", w.hasState("setup"))
	// The state is written before the window redraws: wait for the setup
	// screen's own blue button, wider than the login screen's (560 px, not 520).
	setupPNG := filepath.Join(art, "firstrun-setup.png")
	testbin.WaitFor(t, 20*time.Second, "the setup screen drawn", func() bool {
		img := w.screenshot(setupPNG)
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 4 {
			if len(tileRuns(img, y, 540, func(x, y int) bool { return near(img.At(x, y), primary) })) > 0 {
				return true
			}
		}
		return false
	})
	// The setup code field has the focus (focus follows the pointer without a
	// window manager: keep the pointer on the window).
	w.xdotool("mousemove", "600", "30")
	for i, s := range []string{code, "root", "correct horse battery", "correct horse battery"} {
		if i > 0 {
			w.xdotool("key", "Tab")
		}
		w.xdotool("type", "--delay", "30", s)
	}
	w.xdotool("key", "Return")
	testbin.WaitFor(t, 30*time.Second, "the TOTP screen", w.hasState("setup-done"))
	totpPNG := filepath.Join(art, "firstrun-totp.png")
	testbin.WaitFor(t, 20*time.Second, "the QR code drawn", func() bool {
		// The QR code is black on white: many pure white pixels.
		return countColour(w.screenshot(totpPNG), color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}) > 20000
	})
	if r.SetupCode() != "" {
		t.Fatal("the hub still waits for its first admin after setup in the window")
	}
	t.Logf("screenshots: %s %s", setupPNG, totpPNG)
	w.alive()
}

// origin is the console window's top-left corner on the screen.
func (w *window) origin() image.Point {
	w.t.Helper()
	cmd := exec.Command("xdotool", "search", "--name", "^Carrel$", "getwindowgeometry")
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("xdotool getwindowgeometry: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var x, y int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "Position: %d,%d", &x, &y); err == nil {
			return image.Pt(x, y)
		}
	}
	w.t.Fatalf("no window position in %q", out)
	return image.Point{}
}
