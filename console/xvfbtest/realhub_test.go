package xvfbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/e2e"
	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// bins holds carrel-console (cgo, -race, the xvfbtest state hook) and
// carrel-agent (-race), built once for the package.
var bins struct {
	once    sync.Once
	dir     string
	err     error
	console string
	agent   string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

func buildBinaries(t *testing.T) (console, agent string) {
	t.Helper()
	bins.once.Do(func() {
		bins.dir, bins.err = os.MkdirTemp("", "carrel-xvfbtest-bin-")
		if bins.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-race", "-tags", "xvfbtest", "-o", bins.dir+string(os.PathSeparator),
			"github.com/carrel-kiosk/carrel/cmd/carrel-console", "github.com/carrel-kiosk/carrel/cmd/carrel-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		bins.console = filepath.Join(bins.dir, "carrel-console")
		bins.agent = filepath.Join(bins.dir, "carrel-agent")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.console, bins.agent
}

// syncBuffer collects a process's output for the failure message.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts a long-running binary; cleanup interrupts it and waits
// (a process that needs SIGKILL fails the test) and logs its output on failure.
func startProc(t *testing.T, name string, env []string, bin string, args ...string) (out *syncBuffer, exited <-chan struct{}) {
	t.Helper()
	out = &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("%s did not stop within 10s of SIGTERM", name)
			}
		}
		if t.Failed() {
			t.Logf("--- output of %s (exit: %v):\n%s", name, werr, out.String())
		}
	})
	return out, done
}

// agentSession is what the agent last reported as its seat state.
func agentSession(t store.Terminal) protocol.SessionState {
	var s protocol.Status
	if len(t.LastStatus) == 0 || json.Unmarshal(t.LastStatus, &s) != nil {
		return ""
	}
	return s.Session
}

// tileRuns are the horizontal runs, at least minW wide, of colour c on row y.
func tileRuns(img image.Image, y, minW int, c func(x, y int) bool) []image.Rectangle {
	b := img.Bounds()
	var out []image.Rectangle
	start := -1
	for x := b.Min.X; x <= b.Max.X; x++ {
		in := x < b.Max.X && c(x, y)
		switch {
		case in && start < 0:
			start = x
		case !in && start >= 0:
			if x-start >= minW {
				out = append(out, image.Rect(start, y, x, y+1))
			}
			start = -1
		}
	}
	return out
}

// TestRealHub is the console against the real thing: an in-process
// internal/hub on loopback (real TLS, real SQLite in a temp dir), its first
// admin made through the first-run setup API with the hub's setup code, three
// real carrel-agent processes (sandboxed configs) enrolled with a token and
// online. The console logs in through the window with a TOTP code computed
// from the setup's secret, shows the three terminals, opens one with the
// mouse, and its Lock button locks that agent: the agent itself reports its
// seat locked, the others stay free, and the hub audited the command.
func TestRealHub(t *testing.T) {
	need(t, "Xvfb", "xdotool", "import")
	began := time.Now()
	root := repoRoot(t)
	art := filepath.Join(root, "artifacts", "console")
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	consoleBin, agentBin := buildBinaries(t)
	t.Logf("binaries built in %v", time.Since(began).Round(time.Second))

	// The hub.
	ctx, cancel := context.WithCancel(context.Background())
	hubDir := filepath.Join(tmp, "hub")
	h, err := hub.New(hub.Config{DataDir: hubDir, Listen: "127.0.0.1:0", Names: []string{"127.0.0.1"},
		NoControlSocket: true, Version: "xvfbtest"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(ctx) }()
	// A cleanup, not a defer: cleanups run last-registered first, so the
	// console and the agents (registered later) stop before the hub does.
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-hubDone:
			if err != nil {
				t.Errorf("hub Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the hub did not stop within 15s")
		}
	})
	addr := h.Addr().String()
	consoleURL, agentURL, fp := "https://"+addr, "wss://"+addr, h.Fingerprint()
	st := h.Store()

	// The first admin, through the real first-run path.
	rctx, rcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer rcancel()
	setupCode := h.SetupCode()
	if setupCode == "" {
		t.Fatal("a fresh hub offers no setup code")
	}
	const user, password = "ann", "correct horse battery staple"
	c := hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	if err := c.SetHub(consoleURL, fp); err != nil {
		t.Fatal(err)
	}
	setup, err := c.Setup(rctx, protocol.SetupRequest{SetupCode: setupCode, User: user, Password: password})
	c.Close()
	if err != nil {
		t.Fatalf("first-run setup: %v", err)
	}

	// Three real agents, enrolled with one three-use token, running.
	token, hash, err := pki.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(rctx, hash, 3, time.Now().Add(10*time.Minute), "xvfbtest"); err != nil {
		t.Fatal(err)
	}
	const n = 3
	agentEnv := append(os.Environ(), "GORACE=halt_on_error=1")
	for i := range n {
		dir := filepath.Join(tmp, fmt.Sprintf("agent%d", i))
		cfg := e2e.AgentConfig(t, dir, agentURL)
		ectx, ecancel := context.WithTimeout(rctx, time.Minute)
		enroll := exec.CommandContext(ectx, agentBin, "enroll", "--config", cfg, "--hub", agentURL, "--token", token, "--fingerprint", fp)
		enroll.Env = agentEnv
		out, err := enroll.CombinedOutput()
		ecancel()
		if err != nil {
			t.Fatalf("carrel-agent enroll (agent%d): %v\n%s", i, err, out)
		}
		startProc(t, fmt.Sprintf("agent%d", i), agentEnv, agentBin, "run", "--config", cfg)
	}
	terms := func() []store.Terminal {
		ts, err := st.Terminals(rctx)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	waitFor(t, "three agents online and reporting", 60*time.Second, func() bool {
		ts := terms()
		up := 0
		for _, x := range ts {
			if x.Online && agentSession(x) == protocol.SessionFree {
				up++
			}
		}
		return len(ts) == n && up == n
	})
	t.Logf("hub and %d agents up at %v", n, time.Since(began).Round(time.Second))

	// The console in a real window.
	disp := startX(t)
	home := filepath.Join(tmp, "home")
	os.Mkdir(home, 0o700)
	env := append(os.Environ(), "DISPLAY="+disp, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"LANG=en_US.UTF-8", "FYNE_SCALE=1", "GORACE=halt_on_error=1")
	state := filepath.Join(tmp, "state")
	appOut, appDone := startProc(t, "carrel-console", env, consoleBin, "--hub", consoleURL, "--fingerprint", fp, "--test-state-file", state)
	alive := func() {
		select {
		case <-appDone:
			t.Fatalf("the console exited:\n%s", appOut.String())
		default:
		}
	}
	hasState := func(s string) func() bool {
		return func() bool {
			alive()
			b, _ := os.ReadFile(state)
			for _, l := range strings.Split(string(b), "\n") {
				if l == s {
					return true
				}
			}
			return false
		}
	}
	detailID := func() string {
		b, _ := os.ReadFile(state)
		id := ""
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "detail:"); ok {
				id = v
			}
		}
		return id
	}

	waitFor(t, "the login screen", 60*time.Second, hasState("login"))
	loginPNG := filepath.Join(art, "login.png")
	waitFor(t, "the window to be mapped", 20*time.Second, func() bool {
		return variance(screenshot(t, env, loginPNG)) > 50
	})
	// No window manager: focus follows the pointer. Type into the focused user
	// field, then tab through password and code. The code is computed just
	// before typing; the hub accepts one step of skew either way.
	xdotool(t, env, "mousemove", "600", "30")
	xdotool(t, env, "type", "--delay", "30", user)
	xdotool(t, env, "key", "Tab")
	xdotool(t, env, "type", "--delay", "30", password)
	xdotool(t, env, "key", "Tab")
	code, err := totp.GenerateCode(setup.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	xdotool(t, env, "type", "--delay", "30", code)
	xdotool(t, env, "key", "Return")
	waitFor(t, "the room after login", 30*time.Second, hasState("room"))
	waitFor(t, "the three real terminals loaded", 30*time.Second, hasState(fmt.Sprintf("terminals:%d", n)))

	// Three free (green) tiles on screen.
	roomPNG := filepath.Join(art, "room.png")
	tileArea := 168 * 74
	// Every tile on screen: the free colour's runs at least 100 px wide (the
	// header's count chip is narrower) on a row just under the top of each band
	// (above the tile text; tiles may wrap onto rows). The lowest band holds
	// the tile clicked.
	var (
		shot  image.Image
		bs    []image.Rectangle
		tiles []image.Rectangle
		count int
	)
	tilesSeen := false
	defer func() {
		if !tilesSeen {
			t.Logf("last room screenshot: %d tiles, free-coloured bands %v", count, bs)
		}
	}()
	waitFor(t, "three free tiles on screen", 20*time.Second, func() bool {
		shot = screenshot(t, env, roomPNG)
		if countColour(shot, free) < n*tileArea*6/10 {
			return false
		}
		isFree := func(x, y int) bool { return near(shot.At(x, y), free) }
		bs = bands(shot, free)
		count = 0
		for _, r := range bs {
			tiles = tileRuns(shot, r.Min.Y+6, 100, isFree)
			count += len(tiles)
		}
		return count == n && len(tiles) > 0
	})
	tilesSeen = true
	if v := variance(shot); v < 200 {
		t.Fatalf("room screenshot looks blank: luminance variance %.0f", v)
	}
	band := bs[len(bs)-1]
	pick := tiles[len(tiles)/2]
	xdotool(t, env, "mousemove", fmt.Sprint((pick.Min.X+pick.Max.X)/2), fmt.Sprint(band.Min.Y+band.Dy()/2), "click", "1")
	waitFor(t, "a terminal's detail", 20*time.Second, func() bool { alive(); return detailID() != "" })
	id := detailID()

	detailPNG := filepath.Join(art, "detail.png")
	b := shot.Bounds()
	right := image.Rect(b.Min.X+b.Dx()*65/100, b.Min.Y+150, b.Min.X+1200, b.Min.Y+700)
	var second image.Image
	waitFor(t, "the detail pane to change", 20*time.Second, func() bool {
		second = screenshot(t, env, detailPNG)
		return differs(shot, second, right) > 0.05
	})

	// The action row is a three-column grid: Lock, Unlock, End session. End
	// session is the topmost danger-coloured band in the detail pane; Lock is
	// two columns to its left.
	sub := second.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(b.Min.X+b.Dx()*58/100, b.Min.Y+150, b.Max.X, b.Max.Y))
	red := bands(sub, danger)
	if len(red) == 0 {
		t.Fatal("no danger-coloured button in the detail pane")
	}
	// A row just under the button's top edge: above its label, below its corners' rounding.
	row := red[0].Min.Y + 4
	end := tileRuns(second, row, 40, func(x, y int) bool { return near(second.At(x, y), danger) })
	if len(end) == 0 {
		t.Fatalf("no End session button on row %d", row)
	}
	e := end[0]
	const gap = 4 // theme.Padding between grid cells
	lockX := e.Min.X - 2*(e.Dx()+gap) + e.Dx()/2
	lockY := (red[0].Min.Y + red[0].Max.Y) / 2
	if lockX < b.Dx()*58/100 {
		t.Fatalf("computed Lock button x %d lies left of the detail pane (End session at %v)", lockX, e)
	}
	if ts := terms(); len(ts) != n {
		t.Fatalf("%d terminals", len(ts))
	}
	for _, x := range terms() {
		if x.Locked {
			t.Fatalf("terminal %s locked before the click", x.ID)
		}
	}
	xdotool(t, env, "mousemove", fmt.Sprint(lockX), fmt.Sprint(lockY), "click", "1")

	// What the agent did: it persisted the lock and reports its seat locked.
	waitFor(t, "the agent to report its seat locked", 30*time.Second, func() bool {
		x, err := st.Terminal(rctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return x.Locked && agentSession(x) == protocol.SessionLocked
	})
	for _, x := range terms() {
		if x.ID != id && (x.Locked || agentSession(x) != protocol.SessionFree) {
			t.Errorf("terminal %s (not clicked) is locked=%v session=%q", x.ID, x.Locked, agentSession(x))
		}
	}
	// The hub audited the command with the staff member as actor.
	recs, err := st.AuditLog(rctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, r := range recs {
		var d map[string]string
		json.Unmarshal([]byte(r.Detail), &d)
		if r.Action == "command.result" && r.Target == id && strings.Contains(r.Actor, user) &&
			d["action"] == string(protocol.ActionLock) && d["ok"] == "true" {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit record of %s locking %s in %+v", user, id, recs)
	}

	// The window shows it: the tile turns the locked colour.
	lockedPNG := filepath.Join(art, "locked.png")
	lockedColour := color.NRGBA{0xE6, 0x5C, 0x00, 0xFF} // console/ui's tile colour for "locked"
	waitFor(t, "the locked tile on screen", 20*time.Second, func() bool {
		img := screenshot(t, env, lockedPNG)
		return countColour(img, lockedColour) > tileArea*6/10
	})
	t.Logf("locked %s from the window; screenshots %s %s %s %s; %v in all", id, loginPNG, roomPNG, detailPNG, lockedPNG,
		time.Since(began).Round(time.Second))
	alive()
}
