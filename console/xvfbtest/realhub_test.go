package xvfbtest

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/e2e"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestMain removes the binaries buildBinaries made.
func TestMain(m *testing.M) { testbin.Main(m) }

// buildBinaries builds carrel-console (cgo, -race, the xvfbtest state hook),
// carrel-agent and carrel-hub (-race), once for the package.
func buildBinaries(t *testing.T) (console, agent, hub string) {
	t.Helper()
	b := testbin.Build(t, testbin.Options{Race: true, Tags: "xvfbtest"}, "carrel-console", "carrel-agent", "carrel-hub")
	return b["carrel-console"], b["carrel-agent"], b["carrel-hub"]
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

// TestRealHub is the console against the real thing: a `carrel-hub serve` on
// loopback (real TLS, real SQLite in a temp dir), its first admin made through
// the first-run setup API with the hub's setup code, three
// real carrel-agent processes (sandboxed configs) enrolled with a token and
// online. The console logs in through the window with a TOTP code computed
// from the setup's secret, shows the three terminals, opens one with the
// mouse, and its Lock button locks that agent: the agent itself reports its
// seat locked, the others stay free, and the hub audited the command.
func TestRealHub(t *testing.T) {
	need(t, "Xvfb", "xdotool", "import")
	began := time.Now()
	art := artifacts(t)
	tmp := t.TempDir()
	consoleBin, agentBin, hubBin := buildBinaries(t)
	t.Logf("binaries built in %v", time.Since(began).Round(time.Second))

	// The hub. Cleanups run last-registered first, so the console and the
	// agents (started later) stop before the hub does.
	h := testbin.StartHub(t, hubBin)
	consoleURL, fp := "https://"+h.Addr, h.Fingerprint

	// The first admin, through the real first-run path.
	rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer rcancel()
	setupCode := h.SetupCode(t)
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
	tok := h.Token(t, 3)
	const n = 3
	agentEnv := append(os.Environ(), "GORACE=halt_on_error=1")
	for i := range n {
		dir := filepath.Join(tmp, fmt.Sprintf("agent%d", i))
		cfg := e2e.AgentConfig(t, dir, tok.HubURL)
		testbin.Run(t, agentBin, "enroll", "--config", cfg, "--hub", tok.HubURL, "--token", tok.Token, "--fingerprint", tok.Fingerprint)
		testbin.Start(t, fmt.Sprintf("agent%d", i), agentEnv, agentBin, "run", "--config", cfg)
	}
	terminal := func(id string) testbin.Terminal {
		for _, x := range h.Terminals(t) {
			if x.ID == id {
				return x
			}
		}
		t.Fatalf("the hub lists no terminal %s", id)
		return testbin.Terminal{}
	}
	testbin.WaitFor(t, 60*time.Second, "three agents online and reporting", func() bool {
		ts := h.Terminals(t)
		up := 0
		for _, x := range ts {
			if x.Online && x.Session() == protocol.SessionFree {
				up++
			}
		}
		return len(ts) == n && up == n
	})
	t.Logf("hub and %d agents up at %v", n, time.Since(began).Round(time.Second))

	// The console in a real window, logged in with a code computed just
	// before it is typed (the hub accepts one step of skew either way).
	w := openWindow(t, consoleBin, tmp, consoleURL, fp)
	detailID := func() string {
		id := ""
		for _, l := range w.states() {
			if v, ok := strings.CutPrefix(l, "detail:"); ok {
				id = v
			}
		}
		return id
	}
	loginPNG := filepath.Join(art, "login.png")
	w.login(loginPNG, user, password, func() string {
		code, err := totp.GenerateCode(setup.TOTPSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return code
	})
	testbin.WaitFor(t, 30*time.Second, "the three real terminals loaded", w.hasState(fmt.Sprintf("terminals:%d", n)))

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
	testbin.WaitFor(t, 20*time.Second, "three free tiles on screen", func() bool {
		shot = w.screenshot(roomPNG)
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
	w.click(image.Pt(middle(pick).X, middle(band).Y))
	testbin.WaitFor(t, 20*time.Second, "a terminal's detail", func() bool { return detailID() != "" })
	id := detailID()

	// The actions are a three-column grid: Lock, Unlock, End session, then
	// Wipe now, Reboot, Shut down; the last four are danger-coloured, but End
	// session is disabled (grey) on a free PC, where nobody's session could
	// end. So the topmost danger-coloured band in the detail pane is either
	// End session alone (Lock is two columns to its left) or the second row
	// (Lock is right above its first button).
	detailPNG := filepath.Join(art, "detail.png")
	second, _, red := w.waitDetail(shot, detailPNG)
	b := shot.Bounds()
	// A row just under the button's top edge: above its label, below its corners' rounding.
	row := red[0].Min.Y + 4
	pane := b.Dx() * 58 / 100
	var end []image.Rectangle
	for _, r := range tileRuns(second, row, 40, func(x, y int) bool { return near(second.At(x, y), danger) }) {
		if r.Min.X >= pane {
			end = append(end, r)
		}
	}
	if len(end) == 0 {
		t.Fatalf("no danger-coloured button on row %d", row)
	}
	e := end[0]
	const gap = 4 // theme.Padding between grid cells
	lockX := e.Min.X - 2*(e.Dx()+gap) + e.Dx()/2
	lockY := (red[0].Min.Y + red[0].Max.Y) / 2
	if len(end) == 3 { // Wipe now, Reboot, Shut down
		lockX = e.Min.X + e.Dx()/2
		lockY -= red[0].Dy() + gap
	}
	if lockX < pane {
		t.Fatalf("computed Lock button x %d lies left of the detail pane (End session at %v)", lockX, e)
	}
	if ts := h.Terminals(t); len(ts) != n {
		t.Fatalf("%d terminals", len(ts))
	}
	for _, x := range h.Terminals(t) {
		if x.Locked {
			t.Fatalf("terminal %s locked before the click", x.ID)
		}
	}
	w.click(image.Pt(lockX, lockY))

	// What the agent did: it persisted the lock and reports its seat locked.
	testbin.WaitFor(t, 30*time.Second, "the agent to report its seat locked", func() bool {
		x := terminal(id)
		return x.Locked && x.Session() == protocol.SessionLocked
	})
	for _, x := range h.Terminals(t) {
		if x.ID != id && (x.Locked || x.Session() != protocol.SessionFree) {
			t.Errorf("terminal %s (not clicked) is locked=%v session=%q", x.ID, x.Locked, x.Session())
		}
	}
	// The hub audited the command with the staff member as actor.
	rows, err := h.DB(t).Query(`SELECT actor, action, target, detail FROM audit ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	audited := false
	var recs []string
	for rows.Next() {
		var actor, action, target, detail string
		if err := rows.Scan(&actor, &action, &target, &detail); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, strings.Join([]string{actor, action, target, detail}, " "))
		var d map[string]string
		json.Unmarshal([]byte(detail), &d)
		if protocol.AuditAction(action) == protocol.AuditCommandResult && target == id && strings.Contains(actor, user) &&
			protocol.Action(d["action"]) == protocol.ActionLock && d[protocol.AuditKeyOK] == "true" {
			audited = true
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !audited {
		t.Errorf("no audit record of %s locking %s in %q", user, id, recs)
	}

	// The window shows it: the tile turns the locked colour.
	lockedPNG := filepath.Join(art, "locked.png")
	lockedColour := color.NRGBA{0xE6, 0x5C, 0x00, 0xFF} // console/ui's tile colour for "locked"
	testbin.WaitFor(t, 20*time.Second, "the locked tile on screen", func() bool {
		img := w.screenshot(lockedPNG)
		return countColour(img, lockedColour) > tileArea*6/10
	})
	t.Logf("locked %s from the window; screenshots %s %s %s %s; %v in all", id, loginPNG, roomPNG, detailPNG, lockedPNG,
		time.Since(began).Round(time.Second))
	w.alive()
}
