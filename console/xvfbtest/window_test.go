// Package xvfbtest runs the real carrel-console binary (cgo, OpenGL on llvmpipe)
// in a real X server (Xvfb) against a staff hub over real TLS, logs in with the
// keyboard, screenshots the room, clicks a tile with the mouse and checks the
// detail opened.
//
// It runs only with CARREL_XVFB=1 (it builds the console with cgo and -race,
// and carrel-agent with -race, minutes on a cold cache, so a plain
// "go test ./..." on a shared machine skips it), and then needs Xvfb, xdotool
// and ImageMagick's import on PATH and the Fyne build dependencies: a missing
// tool fails the test. Screenshots are left in artifacts/console/ at the
// repository root.
//
// TestRealHub (realhub_test.go) runs it against a real internal/hub with three
// real carrel-agent processes enrolled and online, and locks one from the
// window. TestRealWindow runs it against console/fakehub: a 30-terminal room in
// every state (which real agents on one test machine cannot show) and the
// end-session confirmation dialog.
package xvfbtest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/console/fakehub"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testbin"
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

func repoRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
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
		cmd := exec.Command("Xvfb", disp, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		up := false
		deadline := time.Now().Add(10 * time.Second)
		for !up && time.Now().Before(deadline) {
			select {
			case <-exited:
				t.Logf("Xvfb %s exited: %s", disp, stderr.String())
				deadline = time.Time{}
				continue
			default:
			}
			_, err := os.Stat(sock)
			up = err == nil
			if !up {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if up {
			return disp
		}
	}
	t.Fatal("no free X display for Xvfb")
	return ""
}

// screenshot captures the whole screen with ImageMagick's import.
func screenshot(t *testing.T, env []string, path string) image.Image {
	t.Helper()
	cmd := exec.Command("import", "-window", "root", path)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func xdotool(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("xdotool", args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xdotool %v: %v: %s", args, err, out)
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

func room(s *fakehub.Server) {
	now := time.Now()
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
		s.SetTerminal(protocol.TerminalView{ID: fmt.Sprintf("t%02d", i), Name: fmt.Sprintf("pc-%02d", i), Online: i%11 != 0,
			LastSeen: now, Since: now.Add(-time.Duration(i) * 7 * time.Minute),
			Status: &protocol.Status{Hostname: fmt.Sprintf("pc-%02d.branch.local", i), OS: "linux", OSVersion: "debian 12.7",
				Arch: "amd64", AgentVersion: "0.1.0", BootTime: now.Add(-30 * time.Hour), AgentStarted: now.Add(-5 * time.Hour),
				CPUPercent: float64(i), MemUsed: 3 << 30, MemTotal: 8 << 30, DiskUsed: 50 << 30, DiskTotal: 120 << 30,
				Session: st, LastWipe: "clean 380ms", CertExpires: now.Add(80 * 24 * time.Hour)}})
	}
	s.AddEvent(protocol.EventView{Terminal: "t17", Kind: "wipe.leftovers", Severity: protocol.SeverityAlert, Time: now,
		Data: map[string]string{"path": "Documents/cv.docx"}})
}

// TestRealWindow drives the console against console/fakehub: thirty
// terminals in every display state, a dirty tile's detail, and an end-session
// sent only after its confirmation dialog. Screenshots: fakehub-*.png.
func TestRealWindow(t *testing.T) {
	need(t, "Xvfb", "xdotool", "import")
	root := repoRoot(t)
	art := filepath.Join(root, "artifacts", "console")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	bin, _, _ := buildBinaries(t)

	hubDir := filepath.Join(tmp, "hub")
	if err := os.Mkdir(hubDir, 0o700); err != nil {
		t.Fatal(err)
	}
	hub, err := fakehub.Start(hubDir, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() }) // after the console (registered later) has stopped
	hub.AddAccount("ann", fakehub.Account{Password: "correct horse battery", Code: "246810", Role: protocol.RoleAdmin})
	room(hub)

	disp := startX(t)
	home := filepath.Join(tmp, "home")
	os.Mkdir(home, 0o700)
	env := append(os.Environ(), "DISPLAY="+disp, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"LANG=en_US.UTF-8", "FYNE_SCALE=1", "GORACE=halt_on_error=1")
	state := filepath.Join(tmp, "state")
	app := testbin.Start(t, "carrel-console", env, bin, "--hub", hub.URL(), "--fingerprint", hub.Fingerprint(), "--test-state-file", state)
	running := func() bool {
		select {
		case <-app.Done():
			t.Fatalf("the console exited: %v\n%s", app.Err(), app.Output())
		default:
		}
		return true
	}
	hasState := func(s string) func() bool {
		return func() bool {
			running()
			b, _ := os.ReadFile(state)
			for _, l := range strings.Split(string(b), "\n") {
				if l == s {
					return true
				}
			}
			return false
		}
	}

	testbin.WaitFor(t, 60*time.Second, "the login screen", hasState("login"))
	// Give the window the pointer (no window manager: focus follows it) and type
	// into the focused user field, then tab through password and code.
	loginPNG := filepath.Join(art, "fakehub-login.png")
	testbin.WaitFor(t, 20*time.Second, "the window to be mapped", func() bool {
		img := screenshot(t, env, loginPNG)
		return variance(img) > 50
	})
	xdotool(t, env, "mousemove", "600", "30")
	xdotool(t, env, "type", "--delay", "30", "ann")
	xdotool(t, env, "key", "Tab")
	xdotool(t, env, "type", "--delay", "30", "correct horse battery")
	xdotool(t, env, "key", "Tab")
	xdotool(t, env, "type", "--delay", "30", "246810")
	xdotool(t, env, "key", "Return")
	testbin.WaitFor(t, 30*time.Second, "the room after login", hasState("room"))
	testbin.WaitFor(t, 30*time.Second, "30 terminals loaded", hasState("terminals:30"))

	roomPNG := filepath.Join(art, "fakehub-room.png")
	var shot image.Image
	testbin.WaitFor(t, 20*time.Second, "tiles on screen", func() bool {
		shot = screenshot(t, env, roomPNG)
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
	mid := image.Pt((tile.Min.X+tile.Max.X)/2, (tile.Min.Y+tile.Max.Y)/2)
	xdotool(t, env, "mousemove", fmt.Sprint(mid.X), fmt.Sprint(mid.Y), "click", "1")
	testbin.WaitFor(t, 20*time.Second, "the detail of pc-17", hasState("detail:t17"))

	detailPNG := filepath.Join(art, "fakehub-detail.png")
	b := shot.Bounds()
	right := image.Rect(b.Min.X+b.Dx()*65/100, b.Min.Y+150, b.Min.X+1200, b.Min.Y+700)
	var second image.Image
	testbin.WaitFor(t, 20*time.Second, "the detail pane to change", func() bool {
		second = screenshot(t, env, detailPNG)
		return differs(shot, second, right) > 0.05
	})

	// End the session on pc-17 with the mouse: the red "End session" button is
	// the topmost danger-coloured band in the detail pane; it asks first, and
	// the dialog's own red button sends the command.
	sub := second.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(b.Min.X+b.Dx()*58/100, b.Min.Y+150, b.Max.X, b.Max.Y))
	red := bands(sub, danger)
	if len(red) == 0 {
		t.Fatal("no danger-coloured button in the detail pane")
	}
	end := red[0]
	redBefore := countColour(second, danger)
	xdotool(t, env, "mousemove", fmt.Sprint((end.Min.X+end.Max.X)/2), fmt.Sprint((end.Min.Y+end.Max.Y)/2), "click", "1")
	confirmPNG := filepath.Join(art, "fakehub-confirm.png")
	var yes image.Rectangle
	testbin.WaitFor(t, 20*time.Second, "the confirmation dialog", func() bool {
		img := screenshot(t, env, confirmPNG)
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
	if n := len(hub.Commands()); n != 0 {
		t.Fatalf("%d commands sent before the confirmation", n)
	}
	xdotool(t, env, "mousemove", fmt.Sprint((yes.Min.X+yes.Max.X)/2), fmt.Sprint((yes.Min.Y+yes.Max.Y)/2), "click", "1")
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := hub.WaitFor(wctx, func() bool { return len(hub.Commands()) > 0 }); err != nil {
		t.Fatal(err)
	}
	if got := hub.Commands(); len(got) != 1 || got[0].Terminal != "t17" || got[0].Action != protocol.ActionEndSession {
		t.Fatalf("the hub received %+v, want one end-session for t17", got)
	}
	t.Logf("screenshots: %s %s %s %s (detail region changed %.0f%%)", loginPNG, roomPNG, detailPNG, confirmPNG, 100*differs(shot, second, right))
	running()
}
