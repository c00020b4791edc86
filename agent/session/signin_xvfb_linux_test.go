//go:build linux

package session

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/outbox"
	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestSignInUnderXvfb is the agent's whole sign-in on a real X server: the
// real Manager in sign-in mode, the real Linux controller and session helper
// (as a throwaway patron uid), a patron who types a card and PIN with
// xdotool, a hub (a fake end of the link) that grants 10 minutes, the strip,
// a killed helper that adds no time, the end at the grant's end, the wipe,
// and the next session's form. The PIN is nowhere in the log or the outbox.
func TestSignInUnderXvfb(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the helper is started as the patron's uid")
	}
	xdotool, err := exec.LookPath("xdotool")
	if err != nil {
		if os.Getenv("CARREL_XVFB") == "1" {
			t.Fatal("xdotool not found (.ci/deps installs it)")
		}
		t.Skip("xdotool is not installed")
	}
	display, xc := startXvfb(t)
	uid := uint32(0)
	for u := 450000 + os.Getpid()%20000; u < 480000; u++ {
		if _, err := user.LookupId(strconv.Itoa(u)); err != nil && len(pidsOfUID(uint32(u))) == 0 {
			uid = uint32(u)
			break
		}
	}
	if uid == 0 {
		t.Fatal("no free uid")
	}
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "carrel-agent")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	var lw io.Writer = logs
	if testing.Verbose() {
		lw = io.MultiWriter(logs, tWriter{t})
	}
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lc := newLinuxController(log, overlay.Options{Log: log, Start: overlay.HelperCommand(exe, overlay.HelperArg)})
	lc.lookupID = func(id string) (*user.User, error) {
		if id != strconv.Itoa(int(uid)) {
			return nil, fmt.Errorf("unknown uid %s", id)
		}
		return &user.User{Uid: id, Gid: id, Username: "patron1", HomeDir: "/nonexistent"}, nil
	}
	ctl := noEndController{linuxController: lc, terminated: make(chan string, 4)}
	state := t.TempDir()
	ob, err := outbox.Open(state, outbox.Options{MaxEvents: 1000, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	cfg := testConfig()
	cfg.PatronSignIn = true
	mono := &fakeMono{d: time.Hour}
	wiper := newFakeWiper()
	w := newFakeWatcher()
	m, err := New(Options{Config: cfg, Log: log, Watcher: w, Wiper: wiper, Controller: ctl,
		Power: &fakePower{}, Sink: ob, StateDir: state, Mono: mono.clockFunc()})
	if err != nil {
		t.Fatal(err)
	}
	hub := &fakeHub{}
	g := protocol.Grant{ID: "g-x1", Terminal: "t-1", Kind: protocol.PatronCard, Patron: "p-77", Issued: time.Now(),
		Ends: time.Now().Add(10 * time.Minute), Seconds: 600, EndsBy: "session", Warnings: []int{5}}
	protocol.SignGrant(&g, testGrantKey)
	hub.answer = func(s protocol.SignIn) (protocol.SignInAnswer, error) {
		if s.PIN != "4321" {
			return protocol.SignInAnswer{ID: s.ID, Refusal: protocol.RefusePIN}, nil
		}
		return protocol.SignInAnswer{ID: s.ID, Grant: &g}, nil
	}
	m.SetHub(hub)
	if err := m.SetGrantKey(base64.StdEncoding.EncodeToString(testGrantKey.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if p := pidsOfUID(uid); len(p) > 0 {
			t.Errorf("helper processes left after Run: %v", p)
		}
	})
	recv(t, w.runs, "watcher run")
	xdo := func(args ...string) {
		t.Helper()
		cmd := exec.Command(xdotool, args...)
		cmd.Env = []string{"DISPLAY=" + display}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xdotool %v: %v: %s", args, err, out)
		}
	}
	covered := func() bool { c, _, _ := topCovers(t, xc); return c }
	strip := func() bool {
		_, n, top := topCovers(t, xc)
		return n == 1 && top.Y == 0 && top.Height < 150 && top.Width == 800
	}

	sess := Session{ID: "5", User: "patron1", UID: strconv.Itoa(int(uid)), Type: "x11", Display: display, Since: t0}
	w.events <- Event{Kind: Logon, Session: sess}
	testbin.WaitFor(t, 10*time.Second, "the sign-in form covering the screen", covered)
	testbin.WaitFor(t, 10*time.Second, "the helper on screen", func() bool { r, ok := lc.overlay.Shown("5"); return ok && r.Grabbed })

	// A wrong PIN first: refused, still locked.
	xdo("type", "--delay", "15", "21234000012345")
	xdo("key", "Tab")
	xdo("type", "--delay", "15", "7319")
	xdo("key", "Return")
	testbin.WaitFor(t, 10*time.Second, "the refusal", func() bool { return len(hub.requests()) == 1 && covered() })
	// The PIN field has the focus again, the card is kept.
	xdo("type", "--delay", "15", "4321")
	pressed := time.Now()
	xdo("key", "Return")
	testbin.WaitFor(t, 10*time.Second, "the strip after the grant", strip)
	t.Logf("Enter → the hub's grant → the lock gone and the strip shown: %s (an instant hub)", time.Since(pressed).Round(time.Millisecond))
	got := hub.requests()
	if len(got) != 2 || got[1].Card != "21234000012345" || got[1].PIN != "4321" {
		t.Fatalf("hub got %d sign-ins: %+v", len(got), got)
	}
	if p := m.Patron(); p == nil || p.Grant != "g-x1" {
		t.Fatalf("Patron() = %+v", p)
	}

	// The patron kills the helper: it comes back showing the strip, and the
	// session's end does not move.
	helpers := pidsOfUID(uid)
	if len(helpers) != 1 {
		t.Fatalf("%d patron processes", len(helpers))
	}
	before := m.Patron().Ends
	if err := syscall.Kill(helpers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 10*time.Second, "a new helper", func() bool { p := pidsOfUID(uid); return len(p) == 1 && p[0] != helpers[0] })
	testbin.WaitFor(t, 10*time.Second, "the strip again", strip)
	if after := m.Patron().Ends; after.Sub(before).Abs() > 2*time.Second {
		t.Errorf("the end moved from %s to %s with the helper's restart", before, after)
	}

	// The 5-minute warning, acknowledged with Enter: the session goes on.
	mono.add(301 * time.Second)
	testbin.WaitFor(t, 10*time.Second, "the warning box", func() bool { _, n, _ := topCovers(t, xc); return n == 2 })
	xdo("key", "Return")
	testbin.WaitFor(t, 10*time.Second, "session.warned", func() bool { return pending(ob, protocol.EventSessionWarned) == 1 })
	testbin.WaitFor(t, 10*time.Second, "the strip alone", strip)

	// The grant's end: logoff, the wipe, and the next patron's form.
	mono.add(300 * time.Second)
	if id := recv(t, ctl.terminated, "the end"); id != "5" {
		t.Fatalf("terminated %s", id)
	}
	w.events <- Event{Kind: Logoff, Session: sess}
	recv(t, wiper.called, "the wipe")
	testbin.WaitFor(t, 10*time.Second, "session.wiped", func() bool { return pending(ob, protocol.EventSessionWiped) == 1 })
	testbin.WaitFor(t, 5*time.Second, "the seat free", func() bool { st, _ := m.Current(); return st == protocol.SessionFree })
	next := sess
	next.ID = "6"
	w.events <- Event{Kind: Logon, Session: next}
	testbin.WaitFor(t, 10*time.Second, "the next form", func() bool {
		r, ok := lc.overlay.Shown("6")
		return ok && r.Lock && covered()
	})
	ended := lastPending(ob, protocol.EventSessionEnded)
	if ended.Data[protocol.DataEndReason] != protocol.EndTimeUp || ended.Data[protocol.DataUsed] != "600" {
		t.Errorf("session.ended %v", ended.Data)
	}
	lc.Ended(next)

	// What the patron typed is nowhere: not in the log, not in the outbox.
	var all strings.Builder
	all.WriteString(logs.String())
	files, _ := os.ReadDir(state)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(state, f.Name()))
		all.Write(b)
	}
	for _, secret := range []string{"4321", "7319", "21234000012345"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("%q is in the log or the state directory (outbox)", secret)
		}
	}
}

func pending(ob *outbox.Outbox, kind protocol.EventKind) int {
	n := 0
	for _, e := range ob.Pending(0, 1000) {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func lastPending(ob *outbox.Outbox, kind protocol.EventKind) protocol.Event {
	var last protocol.Event
	for _, e := range ob.Pending(0, 1000) {
		if e.Kind == kind {
			last = e
		}
	}
	return last
}
