//go:build linux

package overlay

import (
	"bytes"
	"context"
	goimage "image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
	"github.com/carrel-kiosk/carrel/internal/testrig/xvfb"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// xdotool runs xdotool on the test's display; without it the test is skipped
// (and fails where CARREL_XVFB=1 says the tools are installed).
func (x *xserver) xdotool(args ...string) {
	x.t.Helper()
	bin, err := exec.LookPath("xdotool")
	if err != nil {
		if os.Getenv("CARREL_XVFB") == "1" {
			x.t.Fatal("xdotool not found (.ci/deps installs it)")
		}
		x.t.Skip("xdotool is not installed")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"DISPLAY=" + x.display}
	if out, err := cmd.CombinedOutput(); err != nil {
		x.t.Fatalf("xdotool %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// typeText types s key by key, as a patron would.
func (x *xserver) typeText(s string) { x.xdotool("type", "--delay", "15", s) }

func (x *xserver) press(key string) { x.xdotool("key", key) }

// savePNG writes the screen to dir/name.png when CARREL_SHOTS names a dir
// (to look at the form by eye).
func (x *xserver) savePNG(name string) {
	dir := os.Getenv("CARREL_SHOTS")
	if dir == "" {
		return
	}
	im := x.image(0, 0, x.w, x.h)
	out := goimage.NewRGBA(goimage.Rect(0, 0, x.w, x.h))
	for yy := 0; yy < x.h; yy++ {
		for xx := 0; xx < x.w; xx++ {
			p := im.at(xx, yy)
			out.Set(xx, yy, color.RGBA{uint8(p >> 16), uint8(p >> 8), uint8(p), 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, out)
	_ = os.WriteFile(filepath.Join(dir, name+".png"), b.Bytes(), 0o644)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func nextInput(t *testing.T, s *Supervisor, kind string) Input {
	t.Helper()
	select {
	case in := <-s.Inputs():
		if in.Report.T != kind {
			t.Fatalf("input %q, want %q", in.Report.T, kind)
		}
		return in
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s input from the helper", kind)
	}
	return Input{}
}

// buttonsOn finds the strip's buttons: runs of the button colour along the
// strip's middle row, left to right.
func (x *xserver) buttonsOn(w winInfo) [][2]int {
	im := x.image(w.x, w.y, w.w, w.h)
	bg := x.pixel(buttonBG)
	var out [][2]int
	y := w.h / 2
	for i := 0; i < w.w; {
		if im.at(i, y) != bg {
			i++
			continue
		}
		j := i
		for j < w.w && (im.at(j, y) == bg || j-i < 4 || hasBG(im, j, y, w.w, bg)) {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// hasBG reports whether the button colour comes back within 24 px (a
// button's label interrupts its background).
func hasBG(im image, j, y, w int, bg uint32) bool {
	for k := j; k < min(j+24, w); k++ {
		if im.at(k, y) == bg {
			return true
		}
	}
	return false
}

func TestSignInFormUnderXvfb(t *testing.T) {
	x := startXvfb(t)
	logs := &lockedBuffer{}
	s := NewSupervisor(Options{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Start: HelperCommand(os.Args[0], HelperArg)})
	runSupervisor(t, s, &eventrec.Recorder{})
	tg := self(x)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clean := time.Date(2026, 12, 7, 14, 2, 0, 0, time.Local).UnixMilli()
	form := PatronScreen{SignIn: true, CleanAt: clean}
	if err := s.Patron(ctx, tg, true, form); err != nil {
		t.Fatal(err)
	}
	x.waitLockShown(0, 5*time.Second)
	testbin.WaitFor(t, 10*time.Second, "keyboard grab", x.keyboardGrabbed)
	// The form is drawn: white fields, and the focused one's frame.
	testbin.WaitFor(t, 10*time.Second, "the form drawn", func() bool {
		im := x.image(0, 0, x.w, x.h)
		return im.share(x.pixel(fieldBG)) > 0.03 && im.share(x.pixel(focusFrame)) > 0
	})
	x.savePNG("signin-empty")

	t.Run("card and PIN typed with the keyboard reach the service", func(t *testing.T) {
		x.typeText("21234000012345")
		x.press("Tab")
		x.typeText("4321")
		x.savePNG("signin-typed")
		x.press("Return")
		in := nextInput(t, s, ReportSignIn)
		if string(in.Report.Card) != "21234000012345" || string(in.Report.PIN) != "4321" || len(in.Report.Guest) != 0 || in.Session != tg.Session {
			t.Errorf("sign-in input: card %q pin %q guest %q", in.Report.Card, in.Report.PIN, in.Report.Guest)
		}
		in.Report.Wipe()
		if string(in.Report.PIN) == "4321" {
			t.Error("Wipe left the PIN")
		}
	})

	t.Run("a refusal is shown in its words", func(t *testing.T) {
		before := x.image(0, 0, x.w, x.h).share(x.pixel(focusFrame))
		refused := form
		refused.Refusal, refused.Form = protocol.RefusePIN, 1
		if err := s.Patron(ctx, tg, true, refused); err != nil {
			t.Fatal(err)
		}
		testbin.WaitFor(t, 10*time.Second, "the refusal's text (in the highlight colour)", func() bool {
			return x.image(0, 0, x.w, x.h).share(x.pixel(focusFrame)) > before*1.5
		})
		x.savePNG("signin-refused")
	})

	t.Run("a guest pass code", func(t *testing.T) {
		// After a wrong PIN the PIN field has the focus: Tab goes to the guest code.
		x.press("Tab")
		x.typeText("GUEST-7H3K")
		x.press("Return")
		in := nextInput(t, s, ReportSignIn)
		if string(in.Report.Guest) != "GUEST-7H3K" || len(in.Report.Card) != 0 || len(in.Report.PIN) != 0 {
			t.Errorf("guest input: card %q pin %q guest %q", in.Report.Card, in.Report.PIN, in.Report.Guest)
		}
	})

	t.Run("helper killed during sign-in comes back with an empty form", func(t *testing.T) {
		next := form
		next.Form = 2
		if err := s.Patron(ctx, tg, true, next); err != nil {
			t.Fatal(err)
		}
		x.press("Escape") // an empty form
		x.typeText("999")
		pid := s.helperPID(tg.Session)
		done := s.helperDone(tg.Session)
		if err := syscallKill(pid); err != nil {
			t.Fatal(err)
		}
		<-done
		testbin.WaitFor(t, 10*time.Second, "a new helper on screen", func() bool {
			p := s.helperPID(tg.Session)
			return p != 0 && p != pid && s.onScreen(tg.Session)
		})
		testbin.WaitFor(t, 10*time.Second, "keyboard grabbed again", x.keyboardGrabbed)
		x.typeText("21234000099999")
		x.press("Tab")
		x.typeText("1111")
		x.press("Return")
		in := nextInput(t, s, ReportSignIn)
		if string(in.Report.Card) != "21234000099999" || string(in.Report.PIN) != "1111" {
			t.Errorf("after the restart: card %q pin %q", in.Report.Card, in.Report.PIN)
		}
	})

	t.Run("the strip shows the time left and ends the session after a confirmation", func(t *testing.T) {
		p := PatronScreen{EndsAt: time.Now().Add(42 * time.Minute).UnixMilli()}
		if err := s.Patron(ctx, tg, false, p); err != nil {
			t.Fatal(err)
		}
		var w winInfo
		testbin.WaitFor(t, 10*time.Second, "the strip on top", func() bool {
			var ok bool
			w, ok = x.top()
			return ok && w.y == 0 && w.w == x.w && w.h < x.h/4
		})
		if x.keyboardGrabbed() {
			t.Error("the strip takes the keyboard")
		}
		var btn [][2]int
		testbin.WaitFor(t, 10*time.Second, "the End my session button", func() bool { btn = x.buttonsOn(w); return len(btn) == 1 })
		x.savePNG("strip")
		x.click(w.x+(btn[0][0]+btn[0][1])/2, w.y+w.h/2)
		time.Sleep(300 * time.Millisecond)
		x.savePNG("strip-confirm")
		testbin.WaitFor(t, 10*time.Second, "the confirmation's two buttons", func() bool { btn = x.buttonsOn(w); return len(btn) == 2 })
		x.savePNG("strip-confirm")
		select {
		case in := <-s.Inputs():
			t.Fatalf("%s before the confirmation", in.Report.T)
		default:
		}
		yes := btn[1] // rightmost
		x.click(w.x+(yes[0]+yes[1])/2, w.y+w.h/2)
		nextInput(t, s, ReportEndSession)
	})

	t.Run("a time warning is acknowledged with Enter", func(t *testing.T) {
		p := PatronScreen{EndsAt: time.Now().Add(5 * time.Minute).UnixMilli(), WarnID: 3, Warn: 5}
		if err := s.Patron(ctx, tg, false, p); err != nil {
			t.Fatal(err)
		}
		testbin.WaitFor(t, 10*time.Second, "the warning box", func() bool {
			w, ok := x.top()
			return ok && w.x > 0 && w.y > 0 && w.w < x.w
		})
		x.savePNG("warning")
		x.press("Return")
		in := nextInput(t, s, ReportWarnAck)
		if in.Report.WarnID != 3 {
			t.Errorf("acknowledged warning %d, want 3", in.Report.WarnID)
		}
	})

	for _, secret := range []string{"4321", "1111", "21234000012345", "GUEST-7H3K"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("%q in the supervisor's log", secret)
		}
	}
}

// fieldHeight measures the sign-in fields' height down the screen's centre
// column.
func fieldHeight(t *testing.T, extra ...string) (int, *xserver) {
	display := xvfb.Start(t, "2048x1536x24", extra...)
	x := &xserver{t: t, display: display}
	var err error
	if x.c, err = xgb.NewConnDisplay(display); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.c.Close)
	scr := xproto.Setup(x.c).DefaultScreen(x.c)
	x.root, x.w, x.h = scr.Root, int(scr.WidthInPixels), int(scr.HeightInPixels)
	s := NewSupervisor(Options{Log: testLogger(t), Start: HelperCommand(os.Args[0], HelperArg)})
	runSupervisor(t, s, &eventrec.Recorder{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Patron(ctx, self(x), true, PatronScreen{SignIn: true}); err != nil {
		t.Fatal(err)
	}
	white := x.pixel(fieldBG)
	h := 0
	// The longest run of white down the centre: a field (the text, also
	// white, makes only short runs).
	testbin.WaitFor(t, 10*time.Second, "the fields drawn", func() bool {
		im := x.image(x.w/2, 0, 1, x.h)
		run := 0
		for y := 0; y < x.h; y++ {
			if im.at(0, y) == white {
				run++
				h = max(h, run)
			} else {
				run = 0
			}
		}
		return h > 20
	})
	return h, x
}

// TestSignInFormScalesWithTheScreen: at 192 DPI (Windows' 200 %) the form's
// type is twice as large as at 96 DPI on the same screen size.
func TestSignInFormScalesWithTheScreen(t *testing.T) {
	normal, _ := fieldHeight(t, "-dpi", "96")
	double, x := fieldHeight(t, "-dpi", "192")
	x.savePNG("signin-200")
	t.Logf("first field %d px high at 96 DPI, %d px at 192 DPI", normal, double)
	if float64(double) < 1.6*float64(normal) {
		t.Errorf("field %d px at 192 DPI, %d px at 96: the form does not scale", double, normal)
	}
}
