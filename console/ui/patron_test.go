package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func withPatron(v protocol.TerminalView, kind protocol.PatronKind, left time.Duration) protocol.TerminalView {
	s := *v.Status
	s.Patron = &protocol.PatronView{Grant: "g-1", Kind: kind, Patron: "card-1a2b3c4d", Ends: clock.Add(left)}
	if kind == protocol.PatronGuest {
		s.Patron.Patron = "guest"
	}
	v.Status = &s
	return v
}

// A tile says the time left and card or guest; the detail shows the session
// and its rules, and Add time reaches the hub.
func TestPatronTileAndAddTime(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	pc := withPatron(term("t1", "pc-01", true, protocol.SessionInUse, false), protocol.PatronCard, 12*time.Minute+30*time.Second)
	g := protocol.Grant{ID: "g-1", Terminal: "t1", Kind: protocol.PatronCard, Patron: "card-1a2b3c4d", Ends: clock.Add(12 * time.Minute), EndsBy: "session"}
	rules := protocol.Rules{SessionMinutes: 45, DailyMinutes: 90, CutoffMinutes: 10,
		Exceptions: []protocol.HoursException{{Date: clock.Format(time.DateOnly), DayHours: protocol.DayHours{Open: "09:00", Close: "17:00"}}}}
	h.hub.session = map[string]protocol.SessionView{"t1": {Grant: &g, Branch: "Main", Rules: rules}}
	h.hub.terminals = []protocol.TerminalView{pc, withPatron(term("t2", "pc-02", true, protocol.SessionInUse, false), protocol.PatronGuest, 5*time.Minute)}
	h.login("dan")
	h.wait("tiles", func() bool { return len(h.tiles()) == 2 })
	if got := h.tiles()["pc-01"].time.Text; got != "card 12m left" {
		t.Errorf("card tile says %q", got)
	}
	if got := h.tiles()["pc-02"].time.Text; got != "guest 5m left" {
		t.Errorf("guest tile says %q", got)
	}
	h.openDetail("pc-01")
	p := h.ui.room.detail.patron
	h.wait("the session's rules", func() bool { return strings.Contains(p.rules.Text, "45 min") })
	for _, want := range []string{"Main", "90 min a day", "no sign-in in the last 10 min", "today: 09:00–17:00", "ends by session"} {
		if !strings.Contains(p.rules.Text, want) {
			t.Errorf("rules %q lack %q", p.rules.Text, want)
		}
	}
	if !strings.Contains(p.summary.Text, "Card card-1a2b3c4d") || !strings.Contains(p.summary.Text, "12m left") {
		t.Errorf("summary %q", p.summary.Text)
	}
	p.minutes.SetText("15")
	test.Tap(p.add)
	h.wait("time added", func() bool { return strings.HasPrefix(p.result.Text, "Added 15 minutes") })
	if got := h.hub.timeAdded; len(got) != 1 || got[0].Terminal != "t1" || got[0].Minutes != 15 {
		t.Errorf("hub got %+v", got)
	}
	p.minutes.SetText("lots")
	test.Tap(p.add)
	if len(h.hub.timeAdded) != 1 || !strings.Contains(p.result.Text, "whole number") {
		t.Errorf("bad minutes sent or not explained: %q", p.result.Text)
	}
	// A PC without a patron offers no Add time.
	h.hub.send(protocol.StaffPush{Terminal: ptr(term("t1", "pc-01", true, protocol.SessionFree, false))})
	h.wait("the session gone", func() bool { return p.summary.Text == "No patron signed in." })
	if p.controls.Visible() {
		t.Error("Add time offered without a session")
	}
}

func TestILSLightAndGuestPasses(t *testing.T) {
	hub := newFakeHub(protocol.RoleDesk)
	hub.ils = protocol.ILSLink{State: protocol.ILSDown, LastError: "sip2: patron lookup: no answer within 5s"}
	h := newHarnessHub(t, hub, Options{HubURL: "https://hub.test:8443", Fingerprint: strings.Repeat("ab", 32)})
	h.login("dan")
	h.wait("the ILS light", func() bool { return h.ui.ils.last.State == protocol.ILSDown })
	if l := h.ui.ils.label; l.Importance != widget.DangerImportance || !strings.Contains(l.Text, "no answer within 5s") {
		t.Errorf("ILS label %q importance %v", l.Text, l.Importance)
	}
	if h.ui.ils.dot.FillColor != ilsRed {
		t.Error("the ILS light is not red")
	}
	h.ui.makeGuests(protocol.GuestCreateArgs{Count: 3, Minutes: 30})
	h.wait("the codes", func() bool { return h.ui.lastGuestCodes != "" })
	if got := hub.guests; len(got) != 1 || got[0].Count != 3 || got[0].Minutes != 30 {
		t.Errorf("hub got %+v", got)
	}
	if !strings.Contains(h.ui.lastGuestCodes, "3 passes, each for 30 minutes") || strings.Count(h.ui.lastGuestCodes, "ACDE-") != 3 {
		t.Errorf("codes shown: %q", h.ui.lastGuestCodes)
	}
	if h.button(h.win.Content(), "Guest passes…") == nil {
		t.Error("no Guest passes button")
	}
	for _, n := range h.ui.TabNames() {
		if n == "Rules" {
			t.Error("desk has the Rules tab")
		}
	}
}

func TestAdminEditsRules(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.login("ann")
	v := h.ui.admin.rules
	h.wait("the default rules", func() bool { return v.session.Text == "60" })
	v.branch.SetText("Main")
	v.session.SetText("30")
	v.daily.SetText("90")
	v.warnings.SetText("5, 1")
	v.cutoff.SetText("15")
	v.week.SetText("mon-fri 09:00-20:00\nsat 10:00-16:00")
	v.exceptions.SetText("2026-12-25 closed\n2026-12-24 09:00-13:00")
	test.Tap(v.save)
	h.wait("saved", func() bool { return strings.HasPrefix(v.status.Text, "Saved") })
	r := h.hub.rules["Main"]
	if r.SessionMinutes != 30 || r.DailyMinutes != 90 || len(r.Warnings) != 2 || r.CutoffMinutes != 15 ||
		len(r.Hours) != 7 || !r.Hours[0].Closed || r.Hours[6].Close != "16:00" || len(r.Exceptions) != 2 {
		t.Errorf("hub got %+v", r)
	}
	v.week.SetText("funday 09:00-10:00")
	test.Tap(v.save)
	if !strings.HasPrefix(v.status.Text, "Not saved") {
		t.Errorf("bad hours: %q", v.status.Text)
	}
}
