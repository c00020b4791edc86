package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func sessionEvent(term string, seq uint64, at time.Time, kind protocol.EventKind, counts ...Count) Event {
	for i := range counts {
		counts[i].Terminal, counts[i].Time = term, at
	}
	return Event{Terminal: term, Seq: seq, Time: at, Kind: kind, Severity: "info", Data: map[string]string{protocol.DataSession: "s"}, Counts: counts}
}

// An event stored twice (the agent re-sent it after a lost ack) counts once;
// the count is in the branch the PC was in when it was counted, and a move
// later does not change it.
func TestCountsOncePerStoredEvent(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	if err := s.SetBranch(ctx, "t-1", "Main", "test"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 3, 14, 20, 0, 0, time.UTC)
	ev := sessionEvent("t-1", 1, at, protocol.EventSessionStarted, Count{Metric: protocol.MetricSessions, Label: "card", N: 1})
	for i := 0; i < 3; i++ { // the first time, then two re-sends, one in a batch with a new event
		b := &Batch{Events: []Event{ev}}
		if i == 2 {
			b.Events = append(b.Events, sessionEvent("t-1", 2, at.Add(time.Hour), protocol.EventSessionStarted, Count{Metric: protocol.MetricSessions, N: 1}))
		}
		if _, err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetBranch(ctx, "t-1", "Westside", "test"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Report(ctx, protocol.ReportArgs{From: at.Add(-24 * time.Hour), To: at.Add(24 * time.Hour), By: protocol.PeriodDay}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Total(protocol.MetricSessions); got != 2 {
		t.Fatalf("sessions = %d, want 2 (one event stored three times, one once): %+v", got, r.Totals)
	}
	if len(r.Totals) != 2 || r.Totals[0].Label != "" || r.Totals[1].Label != "card" || r.Totals[1].N != 1 {
		t.Fatalf("totals by label: %+v", r.Totals)
	}
	for _, branch := range []struct {
		name string
		want int64
	}{{"Main", 2}, {"Westside", 0}} {
		r, err := s.Report(ctx, protocol.ReportArgs{From: at.Add(-24 * time.Hour), To: at.Add(24 * time.Hour), By: protocol.PeriodDay, Branch: branch.name}, time.UTC)
		if err != nil || r.Total(protocol.MetricSessions) != branch.want {
			t.Fatalf("branch %s: %d sessions (%v), want %d", branch.name, r.Total(protocol.MetricSessions), err, branch.want)
		}
	}
	// The hub's own counts (a sign-in, a guest pass) go with any batch.
	if _, err := s.Commit(ctx, &Batch{Counts: []Count{{Metric: protocol.MetricGuestPasses, Time: at, N: 3}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.BumpCounts(ctx, Count{Metric: protocol.MetricSignInRefused, Label: string(protocol.RefusePIN), Terminal: "t-1", Time: at, N: 1}); err != nil {
		t.Fatal(err)
	}
	r, _ = s.Report(ctx, protocol.ReportArgs{From: at.Add(-24 * time.Hour), To: at.Add(24 * time.Hour), By: protocol.PeriodDay}, time.UTC)
	if r.Total(protocol.MetricGuestPasses) != 3 || r.Total(protocol.MetricSignInRefused) != 1 {
		t.Fatalf("hub counts: %+v", r.Totals)
	}
}

// Rows fall in the day, week and month of the report's zone; the busy-hours
// map is by weekday and hour there.
func TestReportPeriodsAndZone(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	// 2026-11-30 23:30 in New York is 2026-12-01 04:30 UTC: a Monday, in November there.
	at := time.Date(2026, 11, 30, 23, 30, 0, 0, ny)
	var evs []Event
	for i := range 3 {
		evs = append(evs, sessionEvent("t-1", uint64(i+1), at.Add(time.Duration(i)*24*time.Hour), protocol.EventSessionStarted, Count{Metric: protocol.MetricSessions, N: 1}))
	}
	if _, err := s.Commit(ctx, &Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, ny), time.Date(2027, 1, 1, 0, 0, 0, 0, ny)
	for _, c := range []struct {
		by   protocol.Period
		want []string // start dates in New York, with their count
	}{
		{protocol.PeriodDay, []string{"2026-11-30=1", "2026-12-01=1", "2026-12-02=1"}},
		{protocol.PeriodWeek, []string{"2026-11-30=3"}},
		{protocol.PeriodMonth, []string{"2026-11-01=1", "2026-12-01=2"}},
	} {
		r, err := s.Report(ctx, protocol.ReportArgs{From: from, To: to, By: c.by}, ny)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, row := range r.Rows {
			got = append(got, row.Start.In(ny).Format(time.DateOnly)+"="+strconv.FormatInt(row.N, 10))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("by %s: %v, want %v", c.by, got, c.want)
		}
		if r.Busy[time.Monday][23] != 1 || r.Busy[time.Tuesday][23] != 1 || r.Busy[time.Wednesday][23] != 1 {
			t.Errorf("busy hours: %v", r.Busy)
		}
	}
}

// A reversed, empty or ten-year range, an unknown period or metric: each is
// refused with words that name the problem.
func TestReportRangeErrors(t *testing.T) {
	s := open(t)
	d := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	for _, c := range []struct {
		a    protocol.ReportArgs
		want string
	}{
		{protocol.ReportArgs{From: d("2026-12-01"), To: d("2026-11-01"), By: protocol.PeriodDay}, "to (2026-11-01) is not after from (2026-12-01): the range is reversed"},
		{protocol.ReportArgs{From: d("2026-12-01"), To: d("2026-12-01"), By: protocol.PeriodDay}, "range is reversed or empty"},
		{protocol.ReportArgs{From: d("2016-01-01"), To: d("2026-01-01"), By: protocol.PeriodMonth}, "10.0 years after from: a report covers at most 5 years"},
		{protocol.ReportArgs{From: d("2026-01-01"), To: d("2026-02-01"), By: "fortnight"}, `by is "fortnight"; one of hour, day, week, month`},
		{protocol.ReportArgs{From: d("2026-01-01"), To: d("2026-02-01"), By: protocol.PeriodDay, Metrics: []protocol.Metric{"visits"}}, `unknown metric "visits"`},
		{protocol.ReportArgs{To: d("2026-02-01"), By: protocol.PeriodDay}, "from is missing"},
		{protocol.ReportArgs{From: d("2026-01-01"), To: d("2026-03-01"), By: protocol.PeriodHour}, "hour covers at most 31 days"},
	} {
		_, err := s.Report(context.Background(), c.a, nil)
		var re *protocol.ReportError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.a, err, c.want)
		}
	}
}

// IMLS 211 counts the PCs enrolled and not revoked at the year's end; 651 the
// sessions in the year.
func TestIMLS(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for _, id := range []string{"t-1", "t-2", "t-3"} {
		addTerminal(t, s, id, "pc-"+id)
	}
	if err := s.Revoke(ctx, "t-3", "test"); err != nil {
		t.Fatal(err)
	}
	year := time.Now().Year()
	in := time.Date(year, 3, 1, 10, 0, 0, 0, time.UTC)
	out := time.Date(year-1, 12, 31, 10, 0, 0, 0, time.UTC)
	if _, err := s.Commit(ctx, &Batch{Events: []Event{
		sessionEvent("t-1", 1, in, protocol.EventSessionStarted, Count{Metric: protocol.MetricSessions, N: 1}),
		sessionEvent("t-2", 1, in, protocol.EventSessionStarted, Count{Metric: protocol.MetricSessions, N: 1}),
		sessionEvent("t-2", 2, out, protocol.EventSessionStarted, Count{Metric: protocol.MetricSessions, N: 1}),
	}}); err != nil {
		t.Fatal(err)
	}
	x, err := s.IMLS(ctx, year, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if x.Uses != 2 || x.Computers != 2 {
		t.Fatalf("IMLS %d: %+v, want 2 uses and 2 computers (t-3 revoked)", year, x)
	}
	if !strings.Contains(x.String(), "651 (public internet computer uses) = 2; 211 (public internet computers) = 2") {
		t.Fatalf("line: %s", x)
	}
	if x, _ := s.IMLS(ctx, year-2, time.UTC); x.Computers != 0 || x.Uses != 0 {
		t.Fatalf("before any PC enrolled: %+v", x)
	}
}

// Retention deletes session detail after its own time and other events after
// theirs, in chunks, counting each deletion; the counts (and so the report)
// stay.
func TestPruneKeepsCounts(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	start := time.Now().Add(-3 * 24 * time.Hour)
	var evs []Event
	const n = pruneChunk + 1234 // more than one chunk
	for i := range n {
		kind := protocol.EventSessionStarted
		if i%2 == 1 {
			kind = protocol.EventWipeDone
		}
		evs = append(evs, sessionEvent("t-1", uint64(i+1), start, kind, Count{Metric: protocol.MetricSessions, N: 1}))
	}
	s.now = func() time.Time { return start }
	for len(evs) > 0 {
		k := min(len(evs), 256)
		if _, err := s.Commit(ctx, &Batch{Events: evs[:k]}); err != nil {
			t.Fatal(err)
		}
		evs = evs[k:]
	}
	s.now = time.Now
	args := protocol.ReportArgs{From: start.Add(-time.Hour), To: time.Now().Add(time.Hour), By: protocol.PeriodDay, Metrics: []protocol.Metric{protocol.MetricSessions}}
	before, err := s.Report(ctx, args, nil)
	if err != nil || before.Total(protocol.MetricSessions) != n {
		t.Fatalf("before: %d %v", before.Total(protocol.MetricSessions), err)
	}
	// Events kept 30 days: only the session detail (3 days old) goes.
	got, err := s.Prune(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["sessions"] != (n+1)/2 || got["events"] != 0 {
		t.Fatalf("pruned %v, want %d sessions and no other events", got, (n+1)/2)
	}
	if left, _ := s.TotalEvents(ctx); left != n/2 {
		t.Fatalf("%d events left, want %d", left, n/2)
	}
	// Events kept 2 days: the rest go too.
	got, err = s.Prune(ctx, map[RetentionClass]time.Duration{KeepEvents: 48 * time.Hour})
	if err != nil || got["events"] != n/2 {
		t.Fatalf("pruned %v %v, want %d events", got, err, n/2)
	}
	after, err := s.Report(ctx, args, nil)
	if err != nil || after.Total(protocol.MetricSessions) != n {
		t.Fatalf("after: %d %v", after.Total(protocol.MetricSessions), err)
	}
	del, _ := s.Report(ctx, protocol.ReportArgs{From: start, To: time.Now().Add(time.Hour), By: protocol.PeriodDay, Metrics: []protocol.Metric{protocol.MetricDeleted}}, nil)
	want := map[string]int64{"sessions": (n + 1) / 2, "events": n / 2}
	for _, row := range del.Totals {
		if row.N != want[row.Label] {
			t.Errorf("deleted %s counted %d, want %d", row.Label, row.N, want[row.Label])
		}
		delete(want, row.Label)
	}
	if len(want) > 0 {
		t.Errorf("deletions not counted: %v (totals %+v)", want, del.Totals)
	}
}

// Export gathers a PC's events, commands, counts and audit rows; erase
// refuses an enrolled PC unless forced, deletes its events and commands,
// makes its counts anonymous without changing a report, and is audited.
func TestExportAndErase(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc-1")
	addTerminal(t, s, "t-2", "pc-2")
	at := time.Now().Add(-time.Hour)
	for _, id := range []string{"t-1", "t-2"} {
		if _, err := s.Commit(ctx, &Batch{Events: []Event{
			sessionEvent(id, 1, at, protocol.EventSessionStarted, Count{Metric: protocol.MetricSessions, N: 1}),
			sessionEvent(id, 2, at, protocol.EventWipeDone, Count{Metric: protocol.MetricWipes, Label: "clean", N: 1}),
		}, Counts: []Count{{Metric: protocol.MetricSessions, Time: at, N: 5}}}); err != nil { // the hub's own, anonymous
			t.Fatal(err)
		}
	}
	if err := s.AddCommand(ctx, Command{ID: "c-1", Terminal: "t-1", Action: "lock", IssuedBy: "ann", IssuedAt: at, ExpiresAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	x, err := s.ExportTerminal(ctx, "pc-1")
	if err != nil {
		t.Fatal(err)
	}
	if x.Terminal.ID != "t-1" || len(x.Events) != 2 || len(x.Commands) != 1 || len(x.Counts) != 2 || len(x.Certs) != 1 || len(x.Audit) != 2 {
		t.Fatalf("export: %d events, %d commands, %d counts, %d certs, %d audit rows", len(x.Events), len(x.Commands), len(x.Counts), len(x.Certs), len(x.Audit))
	}
	args := protocol.ReportArgs{From: at.Add(-24 * time.Hour), To: at.Add(24 * time.Hour), By: protocol.PeriodDay}
	before, _ := s.Report(ctx, args, nil)

	if _, err := s.EraseTerminal(ctx, "pc-1", "local:root", false); !errors.Is(err, ErrInService) || !strings.Contains(err.Error(), "revoke it first") {
		t.Fatalf("erase of an enrolled PC: %v", err)
	}
	if err := s.Revoke(ctx, "t-1", "local:root"); err != nil {
		t.Fatal(err)
	}
	e, err := s.EraseTerminal(ctx, "pc-1", "local:root", false)
	if err != nil || e.Events != 2 || e.Commands != 1 || e.Counts != 2 {
		t.Fatalf("erase: %+v %v", e, err)
	}
	x, err = s.ExportTerminal(ctx, "t-1")
	if err != nil || len(x.Events) != 0 || len(x.Commands) != 0 || len(x.Counts) != 0 || x.Terminal.LastStatus != nil {
		t.Fatalf("after erase: %+v %v", x, err)
	}
	if last := x.Audit[len(x.Audit)-1]; last.Action != protocol.AuditErase || !strings.Contains(last.Detail, `"events":"2"`) {
		t.Fatalf("erase not audited: %+v", last)
	}
	after, _ := s.Report(ctx, args, nil)
	if len(after.Rows) != len(before.Rows) {
		t.Fatalf("report rows changed by erase: %+v, was %+v", after.Rows, before.Rows)
	}
	for i := range before.Rows {
		if after.Rows[i] != before.Rows[i] {
			t.Fatalf("report changed by erase: %+v, was %+v", after.Rows, before.Rows)
		}
	}
	// pc-2 keeps its own; forced erase of an enrolled PC says so in the audit.
	if n, _ := s.CountEvents(ctx, "t-2"); n != 2 {
		t.Fatalf("pc-2 lost events: %d", n)
	}
	if _, err := s.EraseTerminal(ctx, "pc-2", "local:root", true); err != nil {
		t.Fatal(err)
	}
	rows, _ := s.AuditLog(ctx, 0, 100)
	if last := rows[len(rows)-1]; last.Target != "t-2" || !strings.Contains(last.Detail, `"forced":"true"`) {
		t.Fatalf("forced erase audit: %+v", last)
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}
