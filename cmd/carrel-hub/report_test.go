package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// reportData is a hub data directory with two PCs and a few counted
// sessions in November 2026 (UTC).
func reportData(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "hub")
	if _, err := pki.LoadOrCreate(data); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, id := range []string{"t-0000000000000001", "t-0000000000000002"} {
		if err := st.AddTerminal(ctx, store.Terminal{ID: id, Name: "pc-" + id[len(id)-1:], OS: "linux", CertSerial: id,
			CertNotAfter: time.Now().Add(time.Hour), Branch: "Main"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetBranch(ctx, "t-0000000000000002", "Westside", "test"); err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	add := func(term string, seq uint64, at time.Time, c ...store.Count) {
		for i := range c {
			c[i].Terminal, c[i].Time = term, at
		}
		evs = append(evs, store.Event{Terminal: term, Seq: seq, Time: at, Kind: protocol.EventSessionStarted, Severity: "info", Counts: c})
	}
	d := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	add("t-0000000000000001", 1, d(2, 10), store.Count{Metric: protocol.MetricSessions, Label: "card", N: 1}, store.Count{Metric: protocol.MetricMinutes, Label: "card", N: 40})
	add("t-0000000000000001", 2, d(2, 11), store.Count{Metric: protocol.MetricSessions, Label: "guest", N: 1})
	add("t-0000000000000002", 1, d(3, 9), store.Count{Metric: protocol.MetricSessions, Label: "card", N: 1})
	add("t-0000000000000002", 2, d(10, 9), store.Count{Metric: protocol.MetricSessions, Label: "card", N: 1})
	if _, err := st.Commit(ctx, &store.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReportCommand(t *testing.T) {
	data := reportData(t)
	code, out, errs := run(t, "report", "--data", data, "--zone", "UTC", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv")
	if code != 0 {
		t.Fatalf("report: %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"period", "sessions:card", "sessions:guest", "minutes:card"},
		{"2026-11-02", "1", "1", "40"},
		{"2026-11-03", "1", "0", "0"},
		{"2026-11-10", "1", "0", "0"},
		{"total", "3", "1", "40"},
	}
	if got, w := join(rows), join(want); got != w {
		t.Fatalf("csv:\n%s\nwant\n%s", got, w)
	}
	code, out, _ = run(t, "report", "--data", data, "--zone", "UTC", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "month", "--branch", "Westside", "--format", "json")
	var r protocol.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Total(protocol.MetricSessions) != 2 || len(r.Rows) != 1 {
		t.Fatalf("json by month for Westside: %d %s", code, out)
	}
	code, out, _ = run(t, "report", "--data", data, "--zone", "UTC", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "week")
	if code != 0 || !strings.Contains(out, "PERIOD") || !strings.Contains(out, "2026-11-02") || !strings.Contains(out, "total") {
		t.Fatalf("table by week: %d %s", code, out)
	}
	code, out, _ = run(t, "report", "--data", data, "--zone", "UTC", "--imls", "2026")
	if code != 0 || strings.TrimSpace(out) != "IMLS PLS 2026: 651 (public internet computer uses) = 4; 211 (public internet computers) = 2" {
		t.Fatalf("imls: %d %q", code, out)
	}
}

// Bad ranges and dates are refused with words that say what to fix, exit 2.
func TestReportCommandErrors(t *testing.T) {
	data := reportData(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "2026-12-01", "--to", "2026-11-01"}, "--to 2026-11-01 is before --from 2026-12-01: the range is reversed"},
		{[]string{"--from", "2016-01-01", "--to", "2025-12-31"}, "2016-01-01 to 2025-12-31 is 10.0 years: a report covers at most 5 years"},
		{[]string{"--from", "1/11/2026", "--to", "2026-11-30"}, `--from "1/11/2026" is not a date: write it as YYYY-MM-DD`},
		{[]string{"--from", "2026-11-01", "--to", "2026-11-31"}, `--to "2026-11-31" is not a date`},
		{[]string{"--from", "2026-11-01"}, "--from and --to are needed"},
		{[]string{"--from", "2026-11-01", "--to", "2026-11-30", "--by", "year"}, `by is "year"; one of hour, day, week, month`},
		{[]string{"--from", "2026-11-01", "--to", "2026-11-30", "--format", "xml"}, `--format "xml": one of table, csv, json`},
		{[]string{"--from", "2026-11-01", "--to", "2026-11-30", "--metrics", "visits"}, `unknown metric "visits"`},
		{[]string{"--imls", "26"}, "--imls 26: give a year"},
		{[]string{"--zone", "Mars/Olympus", "--imls", "2026"}, `--zone "Mars/Olympus"`},
	} {
		code, _, errs := run(t, append([]string{"report", "--data", data}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
	code, _, errs := run(t, "report", "--help")
	if code != 0 || !strings.Contains(errs, "examples:") || !strings.Contains(errs, "--imls 2026") {
		t.Errorf("--help: %d %s", code, errs)
	}
}

// export writes everything about a PC; erase refuses an enrolled one, then
// (revoked) deletes its detail without changing the report, and is audited.
func TestExportAndEraseCommands(t *testing.T) {
	data := reportData(t)
	out := filepath.Join(t.TempDir(), "pc-1.json")
	if code, _, errs := run(t, "export", "--data", data, "--terminal", "pc-1", "--out", out); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	var x store.TerminalExport
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &x) != nil || x.Terminal.ID != "t-0000000000000001" || len(x.Events) != 2 || len(x.Counts) != 3 {
		t.Fatalf("export file: %v %s", err, b)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v", fi.Mode())
	}
	_, before, _ := run(t, "report", "--data", data, "--zone", "UTC", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv")
	code, _, errs := run(t, "erase", "--data", data, "--terminal", "pc-1")
	if code != 1 || !strings.Contains(errs, "enrolled and not revoked; revoke it first (carrel-hub revoke), or erase with --force") {
		t.Fatalf("erase of an enrolled PC: %d %s", code, errs)
	}
	if code, _, errs := run(t, "revoke", "--data", data, "pc-1"); code != 0 {
		t.Fatalf("revoke: %s", errs)
	}
	code, said, errs := run(t, "erase", "--data", data, "--terminal", "pc-1")
	if code != 0 || !strings.Contains(said, "2 events and 0 commands deleted, 3 counts no longer name it") {
		t.Fatalf("erase: %d %s %s", code, said, errs)
	}
	_, after, _ := run(t, "report", "--data", data, "--zone", "UTC", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv")
	if after != before {
		t.Fatalf("report changed by erase:\n%s\nwas\n%s", after, before)
	}
	_, exported, _ := run(t, "export", "--data", data, "--terminal", "pc-1")
	if json.Unmarshal([]byte(exported), &x) != nil || len(x.Events) != 0 || len(x.Counts) != 0 || x.Audit[len(x.Audit)-1].Action != protocol.AuditErase {
		t.Fatalf("after erase: %s", exported)
	}
}

func join(rows [][]string) string {
	var s []string
	for _, r := range rows {
		s = append(s, strings.Join(r, ","))
	}
	return strings.Join(s, "\n")
}
