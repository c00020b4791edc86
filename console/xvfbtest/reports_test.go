package xvfbtest

import (
	"image/color"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/hubrig"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// busiest is the heat map's colour for the busiest hour (console/ui
// heatColor(n, n)): opaque, so the screen shows it as it is.
var busiest = color.NRGBA{0xe6, 0x40, 0x10, 0xff}

// TestRealWindowReports: ten patron sessions reported by two real-protocol
// terminals are counted by the real hub; a desk member's console in a real
// window opens the Reports tab with the mouse, which asks the hub for the
// last 30 days and shows the ten sessions (the console reports the total it
// drew), and the busy-hours map shows this hour of today in its darkest
// colour and today's bar stands in the chart. Screenshot: reports.png.
func TestRealWindowReports(t *testing.T) {
	need(t, "Xvfb", "xdotool", "import")
	art := artifacts(t)
	tmp := t.TempDir()
	bin, _, _ := buildBinaries(t)

	r := hubrig.Start(t, hubrig.Options{})
	c := hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	if err := c.SetHub(r.URL(), r.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	ann := r.Setup(t, c, "ann", "correct horse battery")
	ann.Login(t, c)
	bob := hubrig.AddStaff(t, c, "bob", "correct horse battery", protocol.RoleDesk)
	c.Close()
	now := time.Now()
	for i, n := range []int{7, 3} {
		x := r.AddTerminal(t, "pc-0"+strconv.Itoa(i+1), protocol.Status{Hostname: "pc", OS: "linux", AgentVersion: "0.1.0",
			Session: protocol.SessionFree, CertExpires: now.Add(80 * 24 * time.Hour)})
		var seq uint64
		for s := range n {
			seq = x.Emit(t, protocol.EventSessionStarted, protocol.SeverityInfo, map[string]string{protocol.DataSession: strconv.Itoa(s),
				protocol.DataKind: string(protocol.PatronCard)})
		}
		r.EventID(t, x.ID, seq) // stored, so counted (in the same transaction)
	}

	w := openWindow(t, bin, tmp, r.URL(), r.Fingerprint())
	w.login(filepath.Join(tmp, "login.png"), bob.User, bob.Password, func() string { return bob.Code(t) })
	testbin.WaitFor(t, 30*time.Second, "the report of the last 30 days counted", w.hasState("report:10"))
	w.openTab("Reports")
	shot := filepath.Join(art, "reports.png")
	testbin.WaitFor(t, 20*time.Second, "the busy-hours map drawn with this hour darkest", func() bool {
		img := w.screenshot(shot)
		// One 22×22 cell of the heat map; today's bar (the last of 30, all
		// of the chart's height) in the theme's primary colour.
		return countColour(img, busiest) > 300 && countColour(img, primary) > 3000 && variance(img) > 50
	})
	t.Logf("screenshot: %s", shot)
	w.alive()
}
