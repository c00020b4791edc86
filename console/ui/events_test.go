package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The feed is filtered by time as well as by words: the last hour, today
// (since midnight) and the last 7 days, combined with the words.
func TestEventsFilterByTime(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-12", true, protocol.SessionInUse, false), term("t7", "pc-07", true, protocol.SessionFree, false)}
	h.login("dan")
	h.wait("the room", func() bool { return len(h.tiles()) == 2 })
	ages := []time.Duration{10 * time.Minute, 3 * time.Hour, 20 * time.Hour, 3 * 24 * time.Hour, 10 * 24 * time.Hour}
	for i, age := range ages {
		term := "t1"
		if i%2 == 1 {
			term = "t7"
		}
		h.hub.send(protocol.StaffPush{Event: &protocol.EventView{ID: int64(100 + i), Terminal: term, Kind: protocol.EventSessionStarted,
			Severity: protocol.SeverityInfo, Time: clock.Add(-age)}})
	}
	fv := h.ui.feed
	h.wait("the feed", func() bool { return len(fv.feedRows) == len(ages) })
	// clock is 14:00 UTC, so today holds the events of 10 minutes and 3 hours ago.
	for _, tt := range []struct {
		when, words string
		want        int
	}{
		{"Last hour", "", 1},
		{"Today", "", 2},
		{"Last 7 days", "", 4},
		{"Any time", "", 5},
		{"Last 7 days", "pc-07", 2},
		{"Today", "pc-07", 1},
		{"Last hour", "pc-07", 0},
	} {
		fv.filter.SetText(tt.words)
		fv.when.SetSelected(tt.when)
		if len(fv.feedRows) != tt.want {
			t.Errorf("%s, %q: %d rows, want %d", tt.when, tt.words, len(fv.feedRows), tt.want)
		}
		for _, e := range fv.feedRows {
			if tt.when == "Last hour" && clock.Sub(e.Time) > time.Hour {
				t.Errorf("last hour shows an event of %v ago", clock.Sub(e.Time))
			}
		}
	}
	if len(fv.when.Options) != 4 || fv.when.Options[0] != "Any time" {
		t.Errorf("time choices %q", fv.when.Options)
	}
}

// The audit log is filtered like the feed: by words (a PC, a staff member, an
// action) and by time.
func TestAuditFilterByWordsAndTime(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.terminals = []protocol.TerminalView{term("t1", "pc-12", true, protocol.SessionInUse, false), term("t7", "pc-07", true, protocol.SessionFree, false)}
	h.hub.audit = []protocol.AuditView{
		{ID: 1, Time: clock.Add(-10 * 24 * time.Hour), Actor: "staff:root", Action: protocol.AuditStaffLogin, Result: "ok"},
		{ID: 2, Time: clock.Add(-3 * time.Hour), Actor: "staff:ann", Action: protocol.AuditCommand, Terminal: "t7",
			Detail: `{"action":"lock","id":"c9"}`, Result: "ok"},
		{ID: 3, Time: clock.Add(-10 * time.Minute), Actor: "staff:dan", Action: protocol.AuditCommand, Terminal: "t1",
			Detail: `{"action":"lock","id":"c9"}`, Result: "ok"},
	}
	h.login("root")
	h.wait("the room", func() bool { return len(h.tiles()) == 2 })
	av := h.ui.admin.audit
	h.wait("the audit rows", func() bool { return len(av.shown) == 3 })
	for _, tt := range []struct {
		when, words string
		want        []int64
	}{
		{"Any time", "", []int64{3, 2, 1}},
		{"Last hour", "", []int64{3}},
		{"Today", "", []int64{3, 2}},
		{"Any time", "pc-07", []int64{2}},
		{"Any time", "ann", []int64{2}},
		{"Today", "locked", []int64{3, 2}},
		{"Last hour", "pc-07", nil},
	} {
		av.filter.SetText(tt.words)
		av.when.SetSelected(tt.when)
		var got []int64
		for _, a := range av.shown {
			got = append(got, a.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s, %q: rows %v, want %v", tt.when, tt.words, got, tt.want)
		}
	}
	if len(av.rows) != 3 {
		t.Fatalf("the filter dropped rows from the log held: %d", len(av.rows))
	}
}
