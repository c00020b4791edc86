//go:build linux

package agent

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
	"github.com/carrel-kiosk/carrel/internal/testrig/xvfb"
)

// oneSession is a watcher with one open session and nothing after.
type oneSession struct{ s session.Session }

func (w oneSession) Run(ctx context.Context, fn func(session.Event)) error {
	fn(session.Event{Kind: session.Logon, Session: w.s, Initial: true})
	fn(session.Event{})
	<-ctx.Done()
	return nil
}

type noPower struct{}

func (noPower) Reboot(context.Context) error   { return errors.New("not in a test") }
func (noPower) Shutdown(context.Context) error { return errors.New("not in a test") }

// TestBlockedDownloadShowsPatronNotice runs the pieces the agent assembles,
// for real: the download guard (inotify, the classifier, the quarantine)
// reporting through the patron notices, the session manager with the
// logon-gated Linux controller, and its session helper on Xvfb. A program
// downloaded into the patron's Downloads is quarantined, staff get the same
// download.blocked event as before, and the patron's screen shows the notice
// window at once (its words are read back pixel for pixel by
// agent/overlay's TestNoticeUnderXvfb) (issue 16 §6).
func TestBlockedDownloadShowsPatronNotice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the helper is started as the patron's uid")
	}
	// The patron's uid: nobody's, an account every Debian has and no
	// patron's files; the helper is this test binary, which that uid must
	// be able to run from the go tool's build directory.
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody account:", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(exe); strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	display := xvfb.Start(t, "1024x768x24", "-ac")
	xgb.Logger = log.New(io.Discard, "", 0)
	xc, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatal(err)
	}
	defer xc.Close()
	logger := slog.New(slog.DiscardHandler)
	rec := &eventrec.Recorder{}
	notices := newPatronNotices(logger)

	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "Downloads"), 0o755)
	dcfg := downloads.DefaultConfig()
	dcfg.Roots = []string{filepath.Join(home, "*")}
	dcfg.QuarantineDir = filepath.Join(t.TempDir(), "quarantine")
	guard, err := downloads.New(dcfg, classify.New(classify.DefaultConfig()), notices.sink(rec), logger)
	if err != nil {
		t.Fatal(err)
	}

	scfg := session.DefaultConfig()
	scfg.PatronUsers = []string{"patron1"}
	patron := session.Session{ID: "5", User: "patron1", UID: nobody.Uid, Type: "x11", Display: display, Since: time.Now()}
	m, err := session.New(session.Options{
		Config: scfg, Log: logger, Watcher: oneSession{patron},
		Wiper:      session.WiperFunc(func(context.Context, session.User) error { return nil }),
		Controller: gatedController{Controller: session.NewController(logger), gate: newLogonGate(&recGate{})},
		Power:      noPower{}, Sink: rec, StateDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	for _, run := range []func(context.Context) error{guard.Run, m.Run, notices.run(m.Notify)} {
		go func() { done <- run(ctx) }()
	}
	defer func() {
		cancel()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("component: %v", err)
			}
		}
	}()
	testbin.WaitFor(t, 10*time.Second, "the patron session in use", func() bool {
		st, _ := m.Current()
		return st == protocol.SessionInUse
	})
	// The guard watches its roots once Run has set them up: keep writing
	// the program until the guard has seen one.
	program := make([]byte, 0x200)
	copy(program, "MZ")
	program[0x3c] = 0x80
	copy(program[0x80:], "PE\x00\x00")
	target := filepath.Join(home, "Downloads", "invoice.exe")
	testbin.WaitFor(t, 10*time.Second, "invoice.exe quarantined", func() bool {
		if rec.Count(protocol.EventDownloadBlocked) > 0 {
			return true
		}
		part := target + ".crdownload"
		os.WriteFile(part, program, 0o644)
		os.Rename(part, target)
		return false
	})
	ev := rec.OfKind(protocol.EventDownloadBlocked)[0]
	if ev.Data[protocol.DataName] != "invoice.exe" || ev.Sev != protocol.SeverityAlert || ev.Data[protocol.DataID] == "" {
		t.Errorf("staff event %+v", ev)
	}

	root := xproto.Setup(xc).DefaultScreen(xc).Root
	var note xproto.Window
	var geom *xproto.GetGeometryReply
	testbin.WaitFor(t, 10*time.Second, "the patron's notice on screen", func() bool {
		tree, err := xproto.QueryTree(xc, root).Reply()
		if err != nil {
			return false
		}
		for _, w := range tree.Children {
			a, err := xproto.GetWindowAttributes(xc, w).Reply()
			if err != nil || a.MapState != xproto.MapStateViewable {
				continue
			}
			p, err := xproto.GetProperty(xc, false, w, xproto.AtomWmName, xproto.AtomString, 0, 64).Reply()
			if err == nil && string(p.Value) == "Carrel notice" {
				note = w
				geom, _ = xproto.GetGeometry(xc, xproto.Drawable(w)).Reply()
				return geom != nil
			}
		}
		return false
	})
	if geom.X < 512 || geom.Y < 384 {
		t.Errorf("notice %d at %d,%d %dx%d: want the bottom right corner", note, geom.X, geom.Y, geom.Width, geom.Height)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("invoice.exe still in Downloads: %v", err)
	}
}
