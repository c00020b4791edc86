package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/cli"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

const reportHelp = `--from DATE --to DATE [--by day|week|month|hour] [--branch B] [--format table|csv|json]
       carrel-hub report --imls YEAR

Usage counts: sessions (by card, guest, or "" for a logon without sign-in),
minutes, sign-ins and refusals by reason, wipes clean/dirty and the ms until the
PC was ready, downloads and programs blocked, rows deleted by retention. They are
counted when things happen and kept for good: deleting events never changes a
report. Dates are days in the hub's time zone (--zone); --to is included.

examples:
  carrel-hub report --from 2026-11-01 --to 2026-11-30                 # November, a row per day
  carrel-hub report --from 2026-01-01 --to 2026-12-31 --by month --format csv > 2026.csv
  carrel-hub report --from 2026-11-01 --to 2026-11-30 --by week --branch Westside
  carrel-hub report --imls 2026                                        # the IMLS survey's 651 and 211`

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("report", reportHelp, stderr)
	from := fs.String("from", "", "first day, YYYY-MM-DD")
	to := fs.String("to", "", "last day, YYYY-MM-DD (included)")
	by := fs.String("by", "day", "a row per hour, day, week (from Monday) or month")
	branch := fs.String("branch", "", "only this branch's PCs (default: all)")
	metrics := fs.String("metrics", "", "comma-separated metrics (default: all): "+metricList())
	format := fs.String("format", "table", "table, csv or json")
	imls := fs.Int("imls", 0, "print the IMLS Public Libraries Survey figures (651 and 211) for this year")
	zone := fs.String("zone", "Local", "time zone days are counted in (an IANA name, e.g. America/Chicago)")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "carrel-hub report: "+format+"\n", a...)
		return 2
	}
	loc, err := time.LoadLocation(*zone)
	if err != nil {
		return usage("--zone %q: %v", *zone, err)
	}
	if *imls != 0 {
		if *from != "" || *to != "" {
			return usage("--imls counts a whole year: leave out --from and --to")
		}
		if *imls < 2000 || *imls > 9999 {
			return usage("--imls %d: give a year, e.g. --imls %d", *imls, time.Now().Year()-1)
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		x, err := st.IMLS(ctx, *imls, loc)
		if err != nil {
			return fail(stderr, err)
		}
		if *format == "json" {
			return writeJSON(stdout, stderr, x)
		}
		fmt.Fprintln(stdout, x)
		return 0
	}
	a, msg := reportArgs(*from, *to, *by, *branch, *metrics, loc)
	if msg != "" {
		return usage("%s", msg)
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return usage("--format %q: one of table, csv, json", *format)
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	r, err := st.Report(ctx, a, loc)
	if err != nil {
		return fail(stderr, err)
	}
	return writeReport(stdout, stderr, &r, *format)
}

// reportArgs reads the command line's range, or says what is wrong with it.
func reportArgs(from, to, by, branch, metrics string, loc *time.Location) (protocol.ReportArgs, string) {
	if from == "" || to == "" {
		return protocol.ReportArgs{}, "--from and --to are needed (YYYY-MM-DD), or --imls YEAR; see --help"
	}
	f, err := time.ParseInLocation(time.DateOnly, from, loc)
	if err != nil {
		return protocol.ReportArgs{}, fmt.Sprintf("--from %q is not a date: write it as YYYY-MM-DD, e.g. 2026-11-01", from)
	}
	t, err := time.ParseInLocation(time.DateOnly, to, loc)
	if err != nil {
		return protocol.ReportArgs{}, fmt.Sprintf("--to %q is not a date: write it as YYYY-MM-DD, e.g. 2026-11-30", to)
	}
	if t.Before(f) {
		return protocol.ReportArgs{}, fmt.Sprintf("--to %s is before --from %s: the range is reversed", to, from)
	}
	a := protocol.ReportArgs{From: f, To: t.AddDate(0, 0, 1), By: protocol.Period(by), Branch: branch}
	for _, m := range cli.SplitList(metrics) {
		a.Metrics = append(a.Metrics, protocol.Metric(m))
	}
	if err := a.Validate(); err != nil {
		var re *protocol.ReportError
		if errors.As(err, &re) && re.Field == "to" {
			return a, fmt.Sprintf("%s to %s is %.1f years: a report covers at most 5 years", from, to, a.To.Sub(a.From).Hours()/24/365.25)
		}
		return a, strings.TrimPrefix(err.Error(), "report: ")
	}
	return a, ""
}

func metricList() string {
	s := make([]string, len(protocol.Metrics))
	for i, m := range protocol.Metrics {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func writeReport(stdout, stderr io.Writer, r *protocol.Report, format string) int {
	switch format {
	case "json":
		return writeJSON(stdout, stderr, r)
	case "csv":
		w := csv.NewWriter(stdout)
		w.WriteAll(r.Table())
		if err := w.Error(); err != nil {
			return fail(stderr, err)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
	for i, row := range r.Table() {
		if i == 0 {
			row = append([]string(nil), row...)
			for j := range row {
				row[j] = strings.ToUpper(row[j])
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, err)
	}
	if len(r.Rows) == 0 {
		fmt.Fprintln(stdout, "(nothing counted in this range)")
	}
	return 0
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(stderr, err)
	}
	return 0
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("export", "--terminal PC [--out FILE]\n\n"+
		"Everything the hub keeps about one PC, as JSON: its record, certificates, events,\n"+
		"staff commands, counts and the audit rows about it (e.g. before erase).\n\n"+
		"example:\n  carrel-hub export --terminal pc-12 --out pc-12.json", stderr)
	term := fs.String("terminal", "", "the PC (name or ID)")
	out := fs.String("out", "", "write to this file (0600) instead of stdout")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	if *term == "" {
		fmt.Fprintln(stderr, "carrel-hub export: --terminal is needed")
		return 2
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	x, err := st.ExportTerminal(ctx, *term)
	if err != nil {
		return fail(stderr, err)
	}
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return fail(stderr, err)
	}
	b = append(b, '\n')
	if *out == "" {
		stdout.Write(b)
		return 0
	}
	if err := atomicfile.WriteFile(*out, b, 0o600); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stderr, "wrote %s: %d events, %d commands, %d counts, %d audit rows about %s\n", *out, len(x.Events), len(x.Commands),
		len(x.Counts), len(x.Audit), protocol.Printable(x.Terminal.Name))
	return 0
}

func runErase(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("erase", "--terminal PC [--force]\n\n"+
		"For a PC taken out of service: deletes its events, staff commands and last status,\n"+
		"and takes its name off its counts (they stay in its branch's totals, so no report\n"+
		"changes). Its record and certificates stay, revoked, and the audit log stays (it holds\n"+
		"no patron data). Audited. Refused for a PC still enrolled: revoke it first, or --force.\n\n"+
		"example:\n  carrel-hub revoke pc-12 && carrel-hub export --terminal pc-12 --out pc-12.json && carrel-hub erase --terminal pc-12", stderr)
	term := fs.String("terminal", "", "the PC (name or ID)")
	force := fs.Bool("force", false, "erase a PC that is still enrolled and not revoked")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	if *term == "" {
		fmt.Fprintln(stderr, "carrel-hub erase: --terminal is needed")
		return 2
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	e, err := st.EraseTerminal(ctx, *term, localActor(), *force)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "erased %s (%s): %s events and %s commands deleted, %s counts no longer name it\n", protocol.Printable(e.Name),
		protocol.Printable(e.ID), strconv.FormatInt(e.Events, 10), strconv.FormatInt(e.Commands, 10), strconv.FormatInt(e.Counts, 10))
	return 0
}
