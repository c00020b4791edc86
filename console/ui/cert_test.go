package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// A PC whose agent certificate ends within 14 days, or has ended, shows a
// badge on its tile and a sentence in its detail saying what happens and
// what to do; one with time left, or revoked, shows neither.
func TestCertificateNearExpiryWarned(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	soon := term("t1", "pc-01", true, protocol.SessionFree, false)
	soon.CertExpires = clock.Add(5*24*time.Hour + time.Hour)
	ended := term("t2", "pc-02", false, protocol.SessionFree, false)
	ended.CertExpires = clock.Add(-3 * 24 * time.Hour)
	fine := term("t3", "pc-03", true, protocol.SessionInUse, false)
	fine.CertExpires = clock.Add(40 * 24 * time.Hour)
	fromAgent := term("t4", "pc-04", true, protocol.SessionFree, false) // only the agent's report
	fromAgent.Status.CertExpires = clock.Add(2 * 24 * time.Hour)
	revoked := term("t5", "pc-05", false, protocol.SessionFree, false)
	revoked.Revoked, revoked.CertExpires = true, clock.Add(-time.Hour)
	h.hub.terminals = []protocol.TerminalView{soon, ended, fine, fromAgent, revoked}
	h.login("dan")
	h.wait("five tiles", func() bool { return len(h.tiles()) == 5 })
	tiles := h.tiles()
	for name, want := range map[string]string{"pc-01": "cert 5d 1h", "pc-02": "cert ended", "pc-03": "", "pc-04": "cert 2d 0h", "pc-05": ""} {
		tl := tiles[name]
		switch {
		case want == "" && tl.cert.Visible():
			t.Errorf("%s: certificate badge %q shown", name, tl.certText.Text)
		case want != "" && (!tl.cert.Visible() || tl.certText.Text != want):
			t.Errorf("%s: certificate badge visible %v %q, want %q", name, tl.cert.Visible(), tl.certText.Text, want)
		}
	}

	d := func(name string) *detailView {
		h.openDetail(name)
		h.drain()
		return h.ui.room.detail
	}
	if v := d("pc-01"); !v.cert.Visible() || !strings.Contains(v.cert.Text, "The certificate of pc-01 ends 2026-11-28 15:00 UTC (in 5d 1h)") ||
		!strings.Contains(v.cert.Text, "has not renewed it") {
		t.Errorf("pc-01 detail: visible %v %q", v.cert.Visible(), v.cert.Text)
	}
	if v := d("pc-02"); !v.cert.Visible() || !strings.Contains(v.cert.Text, "The certificate of pc-02 ended 2026-11-20 14:00 UTC (3d 0h ago)") ||
		!strings.Contains(v.cert.Text, "renews it by itself") || !strings.Contains(v.cert.Text, "enrolled again") {
		t.Errorf("pc-02 detail: visible %v %q", v.cert.Visible(), v.cert.Text)
	}
	if v := d("pc-03"); v.cert.Visible() {
		t.Errorf("pc-03 detail warns: %q", v.cert.Text)
	}
}
