package ui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// fakeReport is three days of November with sessions, wipes and a block; the
// busiest hour is Tuesday 15:00.
func fakeReport() protocol.Report {
	d := func(day int) time.Time { return time.Date(2026, 11, day, 0, 0, 0, 0, time.UTC) }
	r := protocol.Report{Zone: "UTC", Rows: []protocol.ReportRow{
		{Start: d(3), Metric: protocol.MetricSessions, Label: "card", N: 12},
		{Start: d(3), Metric: protocol.MetricSessions, Label: "guest", N: 3},
		{Start: d(5), Metric: protocol.MetricSessions, Label: "card", N: 30},
		{Start: d(5), Metric: protocol.MetricWipes, Label: protocol.LabelClean, N: 29},
		{Start: d(5), Metric: protocol.MetricWipes, Label: protocol.LabelDirty, N: 1},
		{Start: d(5), Metric: protocol.MetricWipeReadyMS, N: 29 * 40},
		{Start: d(6), Metric: protocol.MetricSessions, Label: "card", N: 6},
		{Start: d(6), Metric: protocol.MetricBlocked, Label: protocol.BlockedProgram, N: 2},
	}, Totals: []protocol.ReportRow{
		{Metric: protocol.MetricSessions, Label: "card", N: 48},
		{Metric: protocol.MetricSessions, Label: "guest", N: 3},
		{Metric: protocol.MetricWipes, Label: protocol.LabelClean, N: 29},
		{Metric: protocol.MetricWipes, Label: protocol.LabelDirty, N: 1},
		{Metric: protocol.MetricWipeReadyMS, N: 29 * 40},
		{Metric: protocol.MetricBlocked, Label: protocol.BlockedProgram, N: 2},
	}}
	r.Busy[time.Tuesday][15] = 20
	r.Busy[time.Thursday][10] = 5
	return r
}

// The Reports tab (a desk member's too) asks for the last 30 days, shows
// the totals in words, a bar per day in proportion to its sessions (days
// without any included), the busy hours darkest where most sessions started,
// and saves the day-by-day table as CSV; a reversed custom range is refused
// before anything is asked.
func TestReportsView(t *testing.T) {
	h := newHarness(t, protocol.RoleDesk)
	h.hub.report = fakeReport()
	h.login("bob")
	if names := h.ui.TabNames(); names[len(names)-1] != "Reports" {
		t.Fatalf("tabs %v", names)
	}
	v := h.ui.reports
	h.wait("the report", func() bool { return v.report != nil })
	h.hub.mu.Lock()
	a := h.hub.reportArgs[0]
	h.hub.mu.Unlock()
	// clock is 2026-11-23 14:00 UTC: the last 30 days are 25 October to 23 November.
	if !a.From.Equal(time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC)) || !a.To.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)) || a.By != protocol.PeriodDay {
		t.Fatalf("asked for %+v", a)
	}
	if want := "51 sessions (48 with a card, 3 guest passes), 0 minutes used. 29 wipes clean, 1 dirty (ready again after 40 ms on average). 2 downloads and 0 programs blocked; 0 sign-ins refused."; v.summary.Text != want {
		t.Fatalf("summary %q\nwant    %q", v.summary.Text, want)
	}

	h.ui.tabs.SelectIndex(len(h.ui.tabs.Items) - 1)
	h.win.Resize(h.win.Canvas().Size()) // lay the tab out
	bars := v.days.bars
	if len(bars) != 30 || len(v.days.labels) != 30 || v.days.labels[0] != "2026-10-25" || v.days.labels[29] != "2026-11-23" {
		t.Fatalf("%d bars, labels %v", len(bars), v.days.labels)
	}
	idx := func(day string) int {
		for i, l := range v.days.labels {
			if l == day {
				return i
			}
		}
		t.Fatalf("no bar for %s", day)
		return -1
	}
	tall := bars[idx("2026-11-05")].Size().Height
	if tall <= 0 || bars[idx("2026-11-04")].Size().Height != 0 {
		t.Fatalf("bar heights: 5 Nov %v, 4 Nov %v", tall, bars[idx("2026-11-04")].Size().Height)
	}
	for day, n := range map[string]float32{"2026-11-03": 15, "2026-11-06": 6} {
		got := bars[idx(day)].Size().Height
		if want := tall * n / 30; got < want-0.5 || got > want+0.5 {
			t.Errorf("%s: bar %v high, want %v (%v of the busiest day's %v)", day, got, want, n, tall)
		}
	}
	if v.days.top.Text != "30 sessions on the busiest day" {
		t.Errorf("chart top %q", v.days.top.Text)
	}
	busiest := v.busy.cells[time.Tuesday][15].FillColor
	quieter := v.busy.cells[time.Thursday][10].FillColor
	none := v.busy.cells[time.Sunday][3].FillColor
	if busiest == quieter || quieter == none || heatColor(20, 20) != busiest || heatColor(0, 20) != none {
		t.Errorf("heat map colours: busiest %v, quieter %v, none %v", busiest, quieter, none)
	}

	var csv bytes.Buffer
	if err := v.writeCSV(&csv); err != nil {
		t.Fatal(err)
	}
	want := "period,sessions:card,sessions:guest,wipes:clean,wipes:dirty,wipe-ready-ms,blocked:program\n" +
		"2026-11-03,12,3,0,0,0,0\n2026-11-05,30,0,29,1,1160,0\n2026-11-06,6,0,0,0,0,2\ntotal,48,3,29,1,1160,2\n"
	if csv.String() != want {
		t.Fatalf("csv:\n%s\nwant\n%s", csv.String(), want)
	}
	if v.save.Disabled() {
		t.Error("Save CSV is disabled with a report shown")
	}

	v.from.SetText("2026-11-20")
	v.to.SetText("2026-11-01")
	test.Tap(v.show)
	if !strings.Contains(v.status.Text, "the range is reversed") {
		t.Fatalf("reversed range: %q", v.status.Text)
	}
	v.from.SetText("2026-11-01")
	v.to.SetText("2026-11-07")
	test.Tap(v.show)
	h.wait("the week's report", func() bool {
		h.hub.mu.Lock()
		defer h.hub.mu.Unlock()
		return len(h.hub.reportArgs) == 2
	})
	h.wait("7 bars", func() bool { return len(v.days.bars) == 7 })
}
