package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Retention: what the hub deletes by itself, and when. Each kind of detail is
// a RetentionRule (a table, its time column, which rows) under a class whose
// setting says how long it is kept (KeepEvents, KeepSessions: carrel-hub
// serve --keep-events, --keep-sessions). Prune deletes what is past it and
// counts each deletion (protocol.MetricDeleted, label What) in the same
// transaction. Not under any rule, so kept for good: the counts (reports), the
// audit log (it names staff, PCs and actions, never a patron), terminals and
// their certificates, staff accounts.

// RetentionClass names a retention setting.
type RetentionClass string

const (
	KeepEvents   RetentionClass = "events"   // agent events and staff commands: what staff look back on
	KeepSessions RetentionClass = "sessions" // session detail: when a patron's session started and ended, its grant
)

// DefaultKeep is how long each class is kept when no setting says otherwise:
// events 30 days; session detail 24 hours (ALA's "Choose Privacy Every Day":
// no logs of patron use beyond a day).
var DefaultKeep = map[RetentionClass]time.Duration{
	KeepEvents:   30 * 24 * time.Hour,
	KeepSessions: 24 * time.Hour,
}

// RetentionRule is one kind of detail the hub deletes once it is older than
// its class's setting.
type RetentionRule struct {
	What  string // the kind of data, as MetricDeleted's label and in the log
	Class RetentionClass
	Table string
	Time  string // the column that dates a row, in ms since 1970
	Where string // which rows of the table, "" for all
}

// sessionKinds are the events that say when a patron's session started,
// ended, was warned or refused (with its grant and pseudonym when signed in).
var sessionKinds = `kind IN ('` + strings.Join([]string{string(protocol.EventSessionStarted), string(protocol.EventSessionEnded),
	string(protocol.EventSessionWarned), string(protocol.EventSessionRefused)}, `', '`) + `')`

// RetentionRules are the hub's rules, applied in this order (session detail
// before the events it is part of, so that it is counted as what it is). A
// store of another part of the hub (the patron ledger) appends its own rule
// here.
var RetentionRules = []RetentionRule{
	{What: "sessions", Class: KeepSessions, Table: "events", Time: "received_at", Where: sessionKinds},
	{What: "events", Class: KeepEvents, Table: "events", Time: "received_at"},
	{What: "commands", Class: KeepEvents, Table: "commands", Time: "issued_at"},
}

// pruneChunk bounds one deleting transaction: the writer is shared with the
// agents' events, which must not wait behind a day's deletion.
const pruneChunk = 5000

// Prune deletes what every rule's class keeps no longer (keep: the settings;
// a class missing or not positive takes DefaultKeep), each rule in
// transactions of about pruneChunk rows that also count what they deleted. It
// returns the rows deleted per rule's What.
func (s *Store) Prune(ctx context.Context, keep map[RetentionClass]time.Duration) (map[string]int64, error) {
	now := s.now()
	out := map[string]int64{}
	for _, r := range RetentionRules {
		d := keep[r.Class]
		if d <= 0 {
			d = DefaultKeep[r.Class]
		}
		if d <= 0 {
			continue // a class nobody set a default for: keep
		}
		n, err := s.prune(ctx, r, now.Add(-d), now)
		out[r.What] += n
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Store) prune(ctx context.Context, r RetentionRule, before, now time.Time) (int64, error) {
	cond := r.Time + ` < ?1`
	if r.Where != "" {
		cond += ` AND (` + r.Where + `)`
	}
	// Up to the pruneChunk-th oldest row each time (all that is left when
	// fewer): the time column's index finds it.
	q := `DELETE FROM ` + r.Table + ` WHERE ` + cond + ` AND ` + r.Time + ` <= COALESCE((SELECT ` + r.Time + ` FROM ` + r.Table +
		` WHERE ` + cond + ` ORDER BY ` + r.Time + ` LIMIT 1 OFFSET ` + fmt.Sprint(pruneChunk-1) + `), ?1)`
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, q, ms(before))
			if err != nil {
				return err
			}
			n, _ = res.RowsAffected()
			var b countBatch
			b.add(now, []Count{{Metric: protocol.MetricDeleted, Label: r.What, N: n}})
			return s.writeCounts(ctx, tx, &b)
		})
		if err != nil {
			return total, fmt.Errorf("delete old %s: %w", r.What, err)
		}
		total += n
		if n == 0 || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
