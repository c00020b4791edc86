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
// agents on one test machine cannot show) and the end-session confirmation
// dialog.
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
// tile's detail, and an end-session that reaches the terminal only after its
// confirmation dialog. Screenshots: room30-*.png.
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

	// End the session on pc-17 with the mouse: the red "End session" button is
	// the topmost danger-coloured band in the detail pane; it asks first, and
	// the dialog's own red button sends the command.
	detailPNG := filepath.Join(art, "room30-detail.png")
	second, changed, red := w.waitDetail(shot, detailPNG)
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
	if got, want := commands(terms), dirtyID+" "+string(protocol.ActionEndSession); len(got) != 1 || got[0] != want {
		t.Fatalf("the terminals carried out %q, want one end-session on pc-17 (%s)", got, dirtyID)
	}
	t.Logf("screenshots: %s %s %s %s (detail region changed %.0f%%)", loginPNG, roomPNG, detailPNG, confirmPNG, 100*changed)
	w.alive()
}
