package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Usage counters (the counts and counts_branch tables, migration step 6). A count is bumped when
// what it counts happens, in the transaction that stores the event it comes
// from (Event.Counts): an event stored twice (the agent re-sent it) is
// ignored, and so are its counts. Counts are per UTC hour, metric, label,
// branch and PC, and kept for good; reports read them and never the events,
// so deleting events or session detail never changes a past report.

// Count is one bump of a usage counter.
type Count struct {
	Metric protocol.Metric
	Label  string // splits a metric (a refusal's reason, card or guest); "" for none
	// Terminal is the PC it happened at, "" for what the hub counts itself.
	Terminal string
	// Branch is the branch it is counted in; "" takes the terminal's branch at
	// the time of the bump (store.Terminal.Branch).
	Branch string
	Time   time.Time // when it happened; counted in its UTC hour (zero: now)
	N      int64
}

type countKey struct {
	hour                    int64
	metric                  protocol.Metric
	label, terminal, branch string
}

// countBatch adds up counts of one transaction before they are written: one
// statement per counter, whatever the number of bumps.
type countBatch struct {
	order []countKey
	n     map[countKey]int64
}

func (b *countBatch) add(now time.Time, cs []Count) {
	for _, c := range cs {
		if c.N == 0 || c.Metric == "" {
			continue
		}
		t := c.Time
		if t.IsZero() {
			t = now
		}
		k := countKey{hour: hourOf(t), metric: c.Metric, label: c.Label, terminal: c.Terminal, branch: c.Branch}
		if b.n == nil {
			b.n = map[countKey]int64{}
		}
		if _, ok := b.n[k]; !ok {
			b.order = append(b.order, k)
		}
		b.n[k] += c.N
	}
}

// hourOf is the start of t's UTC hour, in ms.
func hourOf(t time.Time) int64 { return t.UTC().Truncate(time.Hour).UnixMilli() }

// bumpRows is how many PC counters one prepared statement bumps.
const bumpRows = 64

// bumpRowsSQL adds to n counters of PCs (6 arguments each: hour, metric,
// label, branch, terminal, n).
func bumpRowsSQL(n int) string {
	return `INSERT INTO counts (hour, metric, label, branch, terminal, n) VALUES (?, ?, ?, ?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?, ?, ?, ?)`, n-1) +
		` ON CONFLICT (hour, metric, branch, terminal, label) DO UPDATE SET n = n + excluded.n`
}

// bumpBranchSQL adds n to one counter of a branch.
const (
	bumpBranchSQL = `INSERT INTO counts_branch (hour, metric, label, branch, n) VALUES (?1, ?2, ?3, ?4, ?5)
	ON CONFLICT (hour, metric, branch, label) DO UPDATE SET n = n + excluded.n`
)

func (s *Store) writeCounts(ctx context.Context, tx *sql.Tx, b *countBatch) error {
	if len(b.order) == 0 {
		return nil
	}
	branches, err := branchesOf(ctx, tx, b.order)
	if err != nil {
		return fmt.Errorf("bump counts: %w", err)
	}
	type branchKey struct {
		hour          int64
		metric        protocol.Metric
		label, branch string
	}
	var order []branchKey
	sums := map[branchKey]int64{}
	bumpBranch := tx.StmtContext(ctx, s.insBranchCount)
	// The PCs' counters in multi-row statements: one statement per counter
	// cost as much as storing the event.
	rows := make([]any, 0, 6*len(b.order))
	for _, k := range b.order {
		branch := k.branch
		if branch == "" {
			branch = branches[k.terminal]
		}
		n := b.n[k]
		rows = append(rows, k.hour, string(k.metric), k.label, branch, k.terminal, n)
		bk := branchKey{k.hour, k.metric, k.label, branch}
		if _, ok := sums[bk]; !ok {
			order = append(order, bk)
		}
		sums[bk] += n
	}
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), 6*bumpRows)]
		rows = rows[len(chunk):]
		st := tx.StmtContext(ctx, s.insCount)
		if len(chunk) < 6*bumpRows {
			st = nil
		}
		var err error
		if st != nil {
			_, err = st.ExecContext(ctx, chunk...)
		} else {
			_, err = tx.ExecContext(ctx, bumpRowsSQL(len(chunk)/6), chunk...)
		}
		if err != nil {
			return fmt.Errorf("bump counts: %w", err)
		}
	}
	// A batch's PCs are in a few branches: one statement per branch's counter.
	for _, k := range order {
		if _, err := bumpBranch.ExecContext(ctx, k.hour, string(k.metric), k.label, k.branch, sums[k]); err != nil {
			return fmt.Errorf("bump %s: %w", k.metric, err)
		}
	}
	return nil
}

// branchesOf is the branch, now, of each terminal of keys that names none of
// its own, in one query.
func branchesOf(ctx context.Context, tx *sql.Tx, keys []countKey) (map[string]string, error) {
	out := map[string]string{}
	var args []any
	for _, k := range keys {
		if _, seen := out[k.terminal]; k.branch == "" && k.terminal != "" && !seen {
			out[k.terminal] = ""
			args = append(args, k.terminal)
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, branch FROM terminals WHERE id IN (?`+strings.Repeat(`, ?`, len(args)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, branch string
		if err := rows.Scan(&id, &branch); err != nil {
			return nil, err
		}
		out[id] = branch
	}
	return out, rows.Err()
}

// BumpCounts adds counts in a transaction of their own: for what the hub
// counts apart from an agent's event (the hub's own Count batches them into
// its group commit instead).
func (s *Store) BumpCounts(ctx context.Context, cs ...Count) error {
	var b countBatch
	b.add(s.now(), cs)
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.writeCounts(ctx, tx, &b) }); err != nil {
		return fmt.Errorf("bump counts: %w", err)
	}
	return nil
}

// Report adds up the counts of [a.From, a.To) into rows of a.By, in loc (nil:
// UTC), for a.Branch ("" for all) and a.Metrics (none: all), after checking a
// with ReportArgs.Validate. Counts are per UTC hour: in a zone whose offset
// is not whole hours, an hour's counts fall in the period its start is in.
func (s *Store) Report(ctx context.Context, a protocol.ReportArgs, loc *time.Location) (protocol.Report, error) {
	if err := a.Validate(); err != nil {
		return protocol.Report{}, err
	}
	if loc == nil {
		loc = time.UTC
	}
	r := protocol.Report{From: a.From, To: a.To, By: a.By, Branch: a.Branch, Zone: zoneName(loc, a.From), Rows: []protocol.ReportRow{}, Totals: []protocol.ReportRow{}}
	// An hour bucket is in the range when its start is: From rounded up to its
	// hour, To likewise.
	from, to := ceilHour(a.From), ceilHour(a.To)
	q := `SELECT hour, metric, label, SUM(n) FROM counts_branch WHERE hour >= ? AND hour < ?`
	args := []any{from, to}
	if a.Branch != "" {
		q += ` AND branch = ?`
		args = append(args, a.Branch)
	}
	if len(a.Metrics) > 0 {
		q += ` AND metric IN (?` + strings.Repeat(`, ?`, len(a.Metrics)-1) + `)`
		for _, m := range a.Metrics {
			args = append(args, string(m))
		}
	}
	q += ` GROUP BY hour, metric, label`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	defer rows.Close()
	type rowKey struct {
		start  int64
		metric protocol.Metric
		label  string
	}
	type totKey struct {
		metric protocol.Metric
		label  string
	}
	sums := map[rowKey]int64{}
	tots := map[totKey]int64{}
	lastHour, lastStart := int64(-1), int64(0)
	var lastLocal time.Time
	for rows.Next() {
		var hour, n int64
		var metric, label string
		if err := rows.Scan(&hour, &metric, &label, &n); err != nil {
			return r, fmt.Errorf("report: %w", err)
		}
		if hour != lastHour { // rows come grouped by hour: one conversion per hour
			lastHour = hour
			lastLocal = time.UnixMilli(hour).In(loc)
			lastStart = periodStart(lastLocal, a.By).UnixMilli()
		}
		m := protocol.Metric(metric)
		sums[rowKey{lastStart, m, label}] += n
		tots[totKey{m, label}] += n
		if m == protocol.MetricSessions {
			r.Busy[lastLocal.Weekday()][lastLocal.Hour()] += n
		}
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	for k, n := range sums {
		r.Rows = append(r.Rows, protocol.ReportRow{Start: time.UnixMilli(k.start).In(loc), Metric: k.metric, Label: k.label, N: n})
	}
	for k, n := range tots {
		r.Totals = append(r.Totals, protocol.ReportRow{Metric: k.metric, Label: k.label, N: n})
	}
	cmpRow := func(x, y protocol.ReportRow) int {
		if c := x.Start.Compare(y.Start); c != 0 {
			return c
		}
		if c := metricOrder(x.Metric) - metricOrder(y.Metric); c != 0 {
			return c
		}
		return strings.Compare(x.Label, y.Label)
	}
	slices.SortFunc(r.Rows, cmpRow)
	slices.SortFunc(r.Totals, cmpRow)
	return r, nil
}

// zoneName names loc for a reader elsewhere: its IANA name, or for the
// machine's own zone (time.Local, named "Local") its abbreviation and offset
// at t.
func zoneName(loc *time.Location, t time.Time) string {
	if loc != time.Local {
		return loc.String()
	}
	return t.In(loc).Format("MST -07:00")
}

func ceilHour(t time.Time) int64 {
	h := t.UTC().Truncate(time.Hour)
	if h.Before(t) {
		h = h.Add(time.Hour)
	}
	return h.UnixMilli()
}

// metricOrder is m's place in protocol.Metrics; unknown ones go last.
func metricOrder(m protocol.Metric) int {
	if i := slices.Index(protocol.Metrics, m); i >= 0 {
		return i
	}
	return len(protocol.Metrics)
}

// periodStart is the start of the period of t (in t's zone): its hour, day,
// week (from Monday) or month.
func periodStart(t time.Time, by protocol.Period) time.Time {
	y, mo, d := t.Date()
	switch by {
	case protocol.PeriodHour:
		return time.Date(y, mo, d, t.Hour(), 0, 0, 0, t.Location())
	case protocol.PeriodWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, mo, d-back, 0, 0, 0, 0, t.Location())
	case protocol.PeriodMonth:
		return time.Date(y, mo, 1, 0, 0, 0, 0, t.Location())
	}
	return time.Date(y, mo, d, 0, 0, 0, 0, t.Location())
}

// IMLS is year's figures for the IMLS Public Libraries Survey, the year
// running from 1 January to 1 January in loc (nil: UTC): element 651, the
// patron sessions counted in it, and element 211, the PCs enrolled before its
// end and not revoked by then.
func (s *Store) IMLS(ctx context.Context, year int, loc *time.Location) (protocol.IMLS, error) {
	if loc == nil {
		loc = time.UTC
	}
	if year < 2000 || year > 9999 {
		return protocol.IMLS{}, fmt.Errorf("imls: year %d is not a year this hub could have counted", year)
	}
	from, to := time.Date(year, 1, 1, 0, 0, 0, 0, loc), time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	r, err := s.Report(ctx, protocol.ReportArgs{From: from, To: to, By: protocol.PeriodMonth, Metrics: []protocol.Metric{protocol.MetricSessions}}, loc)
	if err != nil {
		return protocol.IMLS{}, err
	}
	x := protocol.IMLS{Year: year, Uses: r.Total(protocol.MetricSessions)}
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM terminals WHERE enrolled_at < ?1 AND (revoked_at IS NULL OR revoked_at >= ?1)`,
		ms(to)).Scan(&x.Computers); err != nil {
		return x, fmt.Errorf("imls: %w", err)
	}
	return x, nil
}

// SessionStarted is the time of the session.started event of a terminal's
// session, while it is kept (the hub's fallback for a session's length when
// the agent did not report it and the hub restarted since it began).
func (s *Store) SessionStarted(ctx context.Context, terminal, session string) (time.Time, bool, error) {
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT time FROM events WHERE terminal = ? AND kind = ? AND json_extract(data, '$.`+protocol.DataSession+`') = ?
		ORDER BY id DESC LIMIT 1`, terminal, string(protocol.EventSessionStarted), session).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("find start of session %s: %w", session, err)
	}
	return time.UnixMilli(at), true, nil
}
