package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// BenchmarkReportYear200PCs is a year's report by month over 200 PCs in 4
// branches, each open 10 hours a day all year with five counters an hour
// (sessions by card and guest, minutes, clean wipes and their time to
// ready): 3.65 million counter rows per PC, 73,000 per branch (what reports
// read). The rows are made once, in SQL.
func BenchmarkReportYear200PCs(b *testing.B) {
	s, err := Open(b.TempDir() + "/hub.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	year := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO counts (hour, metric, label, branch, terminal, n)
		WITH RECURSIVE pcs(p) AS (SELECT 0 UNION ALL SELECT p+1 FROM pcs WHERE p < 199),
		hours(h) AS (SELECT 0 UNION ALL SELECT h+1 FROM hours WHERE h < 365*24-1),
		m(metric, label) AS (VALUES ('sessions', 'card'), ('sessions', 'guest'), ('minutes', 'card'), ('wipes', 'clean'), ('wipe-ready-ms', ''))
		SELECT ? + h*3600000, metric, label, 'branch-' || (p % 4), printf('t-%05d', p), 1 + (p + h) % 3
		FROM hours, pcs, m WHERE h % 24 BETWEEN 9 AND 18`, year.UnixMilli()); err != nil {
		b.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO counts_branch (hour, metric, label, branch, n)
		SELECT hour, metric, label, branch, SUM(n) FROM counts GROUP BY hour, metric, label, branch`); err != nil {
		b.Fatal(err)
	}
	var rows, branchRows int
	s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM counts`).Scan(&rows)
	s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM counts_branch`).Scan(&branchRows)
	b.Logf("%d counter rows (%d per branch) made in %v", rows, branchRows, time.Since(t0).Round(time.Millisecond))
	for _, c := range []struct {
		name   string
		branch string
		by     protocol.Period
	}{{"all-by-month", "", protocol.PeriodMonth}, {"all-by-day", "", protocol.PeriodDay}, {"branch-by-day", "branch-1", protocol.PeriodDay}} {
		b.Run(c.name, func(b *testing.B) {
			a := protocol.ReportArgs{From: year, To: year.AddDate(1, 0, 0), By: c.by, Branch: c.branch}
			for b.Loop() {
				r, err := s.Report(ctx, a, time.UTC)
				if err != nil || r.Total(protocol.MetricSessions) == 0 {
					b.Fatal(r.Totals, err)
				}
			}
		})
	}
}

// BenchmarkCommitCounted commits batches of 256 session events from 256 PCs
// with their counters (one each, as the hub bumps for session.started) and
// without: the difference is the cost of counting per event.
func BenchmarkCommitCounted(b *testing.B) {
	for _, counted := range []bool{false, true} {
		b.Run(fmt.Sprintf("counts=%v", counted), func(b *testing.B) {
			s, err := Open(b.TempDir() + "/hub.db")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const terms = 256
			for i := range terms {
				addTerminal(b, s, fmt.Sprintf("t-%03d", i), fmt.Sprintf("pc-%03d", i))
			}
			seq := uint64(0)
			var events int
			for b.Loop() {
				seq++
				batch := &Batch{Events: make([]Event, terms)}
				at := time.Now()
				for j := range batch.Events {
					id := fmt.Sprintf("t-%03d", j)
					e := Event{Terminal: id, Seq: seq, Time: at, Kind: protocol.EventSessionStarted, Severity: "info",
						Data: map[string]string{protocol.DataSession: "s", protocol.DataKind: "card"}}
					if counted {
						e.Counts = []Count{{Metric: protocol.MetricSessions, Label: "card", Terminal: id, Time: at, N: 1}}
					}
					batch.Events[j] = e
				}
				if _, err := s.Commit(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				events += terms
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events)/1000, "µs/event")
		})
	}
}
