package protocol

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// Metric names a usage counter (DESIGN.md, "Reports, retention and the API").
// Counters are bumped when things happen, per branch, PC and hour, with a Label
// that splits a metric (a refusal's reason, card or guest), and kept for good:
// deleting events or session detail never changes a past report. They count;
// they never name a patron.
type Metric string

const (
	MetricSessions      Metric = "sessions"       // patron sessions started; label: PatronKind, or "" for an OS logon without sign-in
	MetricMinutes       Metric = "minutes"        // minutes of patron sessions, counted at their end; label: PatronKind or ""
	MetricSignIns       Metric = "signins"        // sign-ins granted; label: PatronKind
	MetricSignInRefused Metric = "signin-refused" // sign-ins refused; label: the Refusal
	MetricWipes         Metric = "wipes"          // wipes at logout; label: "clean" or "dirty"
	MetricWipeReadyMS   Metric = "wipe-ready-ms"  // sum of ms until the PC was ready again (with MetricWipes clean: the mean)
	MetricBlocked       Metric = "blocked"        // downloads blocked; label: the kind of file (the classifier's reason)
	MetricExecBlocked   Metric = "exec-blocked"   // programs refused by the exec guard
	MetricGuestPasses   Metric = "guest-passes"   // guest passes made by staff
	MetricDeleted       Metric = "deleted"        // rows deleted by retention; label: what (events, sessions, ...)
)

// Metrics lists every metric in a stable order.
var Metrics = []Metric{MetricSessions, MetricMinutes, MetricSignIns, MetricSignInRefused, MetricWipes,
	MetricWipeReadyMS, MetricBlocked, MetricExecBlocked, MetricGuestPasses, MetricDeleted}

// Known reports whether m is in Metrics.
func (m Metric) Known() bool {
	for _, k := range Metrics {
		if m == k {
			return true
		}
	}
	return false
}

// Period is the width of a report's rows.
type Period string

const (
	PeriodHour  Period = "hour"
	PeriodDay   Period = "day"
	PeriodWeek  Period = "week" // weeks start on Monday
	PeriodMonth Period = "month"
)

// Periods lists every period in a stable order.
var Periods = []Period{PeriodHour, PeriodDay, PeriodWeek, PeriodMonth}

// Known reports whether p is in Periods.
func (p Period) Known() bool {
	for _, k := range Periods {
		if p == k {
			return true
		}
	}
	return false
}

// MaxReportRange is the longest range a report covers: five years (a
// library's survey looks back one; five leaves room for trends without
// letting one request scan the table's whole life).
const MaxReportRange = 5 * 366 * 24 * time.Hour

// MaxHourlyRange is the longest range reported hour by hour (an answer must
// fit in one staff frame).
const MaxHourlyRange = 31 * 24 * time.Hour

// ReportArgs asks for counts over [From, To), in rows of By, for one branch
// ("" for all) and some metrics (none: all). OpReport's args; any role.
type ReportArgs struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	By      Period    `json:"by"`
	Branch  string    `json:"branch,omitempty"`
	Metrics []Metric  `json:"metrics,omitempty"`
}

// Validate says what is wrong with a report's range in words a person can
// act on: a reversed range, one over MaxReportRange, an unknown period,
// branch or metric.
func (a ReportArgs) Validate() error {
	switch {
	case a.From.IsZero():
		return &ReportError{"from", "is missing"}
	case a.To.IsZero():
		return &ReportError{"to", "is missing"}
	case !a.To.After(a.From):
		return &ReportError{"to", fmt.Sprintf("(%s) is not after from (%s): the range is reversed or empty",
			a.To.Format(time.DateOnly), a.From.Format(time.DateOnly))}
	case a.To.Sub(a.From) > MaxReportRange:
		return &ReportError{"to", fmt.Sprintf("is %.1f years after from: a report covers at most 5 years",
			a.To.Sub(a.From).Hours()/24/365.25)}
	case !a.By.Known():
		return &ReportError{"by", fmt.Sprintf("is %q; one of hour, day, week, month", Clip(string(a.By), 20))}
	case a.By == PeriodHour && a.To.Sub(a.From) > MaxHourlyRange:
		return &ReportError{"by", "hour covers at most 31 days; ask by day for longer"}
	}
	if a.Branch != "" {
		if err := ValidBranch(a.Branch); err != nil {
			return &ReportError{"branch", err.Error()}
		}
	}
	if len(a.Metrics) > len(Metrics) {
		return &ReportError{"metrics", "lists too many"}
	}
	for _, m := range a.Metrics {
		if !m.Known() {
			return &ReportError{"metrics", fmt.Sprintf("has unknown metric %q", Clip(string(m), 30))}
		}
	}
	return nil
}

// ReportError says which of a report's arguments is wrong, and why.
type ReportError struct {
	Field  string
	Reason string
}

func (e *ReportError) Error() string { return "report: " + e.Field + " " + e.Reason }

// ReportRow is one count: a metric (split by Label) in the period starting at
// Start (in the report's Zone). In a report's Totals, Start is zero.
type ReportRow struct {
	Start  time.Time `json:"start,omitzero"`
	Metric Metric    `json:"metric"`
	Label  string    `json:"label,omitempty"`
	N      int64     `json:"n"`
}

// Report is OpReport's answer and `carrel-hub report --format json`'s output.
// Rows are ordered by Start, then Metric's place in Metrics, then Label;
// periods without any count are left out. Busy is MetricSessions by weekday
// (0 = Sunday) and hour of the day, in Zone: the console's heat map.
type Report struct {
	From   time.Time    `json:"from"`
	To     time.Time    `json:"to"`
	By     Period       `json:"by"`
	Branch string       `json:"branch,omitempty"`
	Zone   string       `json:"zone"`
	Rows   []ReportRow  `json:"rows"`
	Totals []ReportRow  `json:"totals"`
	Busy   [7][24]int64 `json:"busy"`
}

// Total is the sum of a metric over the report (every label).
func (r *Report) Total(m Metric) int64 {
	var n int64
	for _, t := range r.Totals {
		if t.Metric == m {
			n += t.N
		}
	}
	return n
}

// IMLS is a year's figures for the IMLS Public Libraries Survey.
type IMLS struct {
	Year int `json:"year"`
	// Uses is element 651, uses of public internet computers: patron sessions
	// started in the year.
	Uses int64 `json:"uses_651"`
	// Computers is element 211, public internet computers: PCs enrolled and
	// not revoked at the end of the year.
	Computers int `json:"computers_211"`
}

// String is the one line a library copies into its survey.
func (x IMLS) String() string {
	return fmt.Sprintf("IMLS PLS %d: 651 (public internet computer uses) = %d; 211 (public internet computers) = %d",
		x.Year, x.Uses, x.Computers)
}

// Labels of MetricWipes.
const (
	LabelClean = "clean"
	LabelDirty = "dirty"
)

// Labels of MetricBlocked: what kind of file a blocked download was, in a
// closed set of words (a count never carries a file's name).
const (
	BlockedProgram   = "program"   // a Windows, Linux or macOS program
	BlockedScript    = "script"    // a script that could run on the PC
	BlockedShortcut  = "shortcut"  // a shortcut that could start a program
	BlockedInstaller = "installer" // an installer or package (for this or another system)
	BlockedArchive   = "archive"   // an archive or disk image holding one of those, or that could not be inspected
	BlockedOther     = "other"     // anything else the guard judged unsafe
)

// BlockedKinds lists MetricBlocked's labels in a stable order.
var BlockedKinds = []string{BlockedProgram, BlockedScript, BlockedShortcut, BlockedInstaller, BlockedArchive, BlockedOther}

// BlockedKind is the label a blocked download is counted under, from its
// name's extension and the guard's reason (DownloadBlocked).
func BlockedKind(d DownloadBlocked) string {
	ext := strings.ToLower(path.Ext(d.Name))
	r := strings.ToLower(d.Reason)
	in := func(exts ...string) bool { return slices.Contains(exts, ext) }
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(r, w) {
				return true
			}
		}
		return false
	}
	switch {
	case in(".msi", ".msix", ".appx", ".pkg", ".deb", ".rpm", ".apk", ".jar") || has("installer", "msi", "package"):
		return BlockedInstaller
	case in(".exe", ".scr", ".com", ".dll", ".cpl", ".appimage") || has("program", "(pe)", "elf", "mach-o", "executable"):
		return BlockedProgram
	case in(".bat", ".cmd", ".ps1", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".hta", ".sh", ".py") || has("script"):
		return BlockedScript
	case in(".lnk", ".url", ".search-ms", ".library-ms", ".settingcontent-ms") || has("shortcut"):
		return BlockedShortcut
	case in(".zip", ".7z", ".rar", ".iso", ".img", ".cab", ".dmg", ".vhd", ".vhdx", ".xz", ".gz", ".tar") || has("archive", "inspect", "disk image"):
		return BlockedArchive
	}
	return BlockedOther
}

// Columns are the report's columns after the period: each metric and label
// that has a count, in Totals' order, named "metric" or "metric:label".
func (r *Report) Columns() []string {
	out := make([]string, len(r.Totals))
	for i, t := range r.Totals {
		out[i] = columnName(t.Metric, t.Label)
	}
	return out
}

func columnName(m Metric, label string) string {
	if label == "" {
		return string(m)
	}
	return string(m) + ":" + label
}

// Table is the report as a table: a header ("period", then Columns), a row
// per period with a count (zero where a column has none), then a "total"
// row. The CSV export and the command line's table both print it.
func (r *Report) Table() [][]string {
	cols := r.Columns()
	idx := make(map[string]int, len(cols))
	for i, c := range cols {
		idx[c] = i + 1
	}
	out := [][]string{append([]string{"period"}, cols...)}
	var cur []string
	var curStart time.Time
	for _, row := range r.Rows {
		if cur == nil || !row.Start.Equal(curStart) {
			cur = make([]string, len(cols)+1)
			for i := range cur {
				cur[i] = "0"
			}
			curStart = row.Start
			cur[0] = r.PeriodName(row.Start)
			out = append(out, cur)
		}
		cur[idx[columnName(row.Metric, row.Label)]] = fmt.Sprint(row.N)
	}
	total := make([]string, len(cols)+1)
	total[0] = "total"
	for i, t := range r.Totals {
		total[i+1] = fmt.Sprint(t.N)
	}
	return append(out, total)
}

// PeriodName is how a row's period is written: 2026-11-03 for a day or the
// Monday a week starts, 2026-11 for a month, 2026-11-03 14:00 for an hour.
func (r *Report) PeriodName(start time.Time) string {
	switch r.By {
	case PeriodMonth:
		return start.Format("2006-01")
	case PeriodHour:
		return start.Format("2006-01-02 15:04")
	}
	return start.Format(time.DateOnly)
}
