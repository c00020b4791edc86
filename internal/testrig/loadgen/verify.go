package loadgen

import (
	"context"
	"fmt"
)

// Accounting compares what the agents emitted in a run with what the hub stored.
type Accounting struct {
	Terminals  int
	Emitted    uint64 // events emitted in the run (sum of the ranges)
	Stored     uint64 // of those, how many the hub stored (distinct seq in the current epoch)
	Missing    uint64 // emitted, not stored
	Mismatched uint64 // stored under an emitted seq but with other content
	Beyond     uint64 // stored with a seq past the last one emitted (never emitted)
	Duplicates uint64 // (terminal, seq) pairs stored more than once, over the whole database
	// OldEpoch are emitted events stored only under an earlier epoch of their
	// terminal: the hub started a new epoch (it believed the agent's numbering
	// restarted) after storing them, so its current view of the terminal lacks them.
	OldEpoch uint64
	// EpochResets are terminals (of the whole database) past epoch 0; an agent
	// whose outbox was never lost should have none.
	EpochResets int
}

// OK is true when every emitted event is stored exactly once and nothing else.
func (a Accounting) OK() bool {
	return a.Missing == 0 && a.Mismatched == 0 && a.Beyond == 0 && a.Duplicates == 0 && a.OldEpoch == 0 && a.Stored == a.Emitted
}

func (a Accounting) String() string {
	v := "OK: every event stored exactly once"
	if !a.OK() {
		v = "FAILED"
	}
	return fmt.Sprintf("events: emitted %d by %d terminals, stored %d; missing %d, wrong content %d, never-emitted %d, duplicate (terminal,seq) %d, stored only under an abandoned epoch %d (terminals with an epoch reset: %d) — %s",
		a.Emitted, a.Terminals, a.Stored, a.Missing, a.Mismatched, a.Beyond, a.Duplicates, a.OldEpoch, a.EpochResets, v)
}

// Account checks ranges (terminal → first and last seq emitted in the run)
// against the hub database at dbPath, opened read-only.
func Account(ctx context.Context, dbPath string, ranges map[string][2]uint64) (Accounting, error) {
	var a Accounting
	db, err := openReadOnly(dbPath)
	if err != nil {
		return a, err
	}
	defer db.Close()
	stmt, err := db.PrepareContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT e.seq),
		COALESCE(SUM(json_extract(e.data, ?) = CAST(e.seq AS TEXT)), 0), COALESCE(SUM(e.seq > ?), 0)
		FROM events e JOIN terminals t ON t.id = e.terminal AND t.epoch = e.epoch
		WHERE e.terminal = ? AND e.seq >= ? AND e.kind = ?`)
	if err != nil {
		return a, fmt.Errorf("account events: %w", err)
	}
	defer stmt.Close()
	anyEpoch, err := db.PrepareContext(ctx, `SELECT COUNT(DISTINCT seq) FROM events WHERE terminal = ? AND seq BETWEEN ? AND ? AND kind = ?`)
	if err != nil {
		return a, fmt.Errorf("account events: %w", err)
	}
	defer anyEpoch.Close()
	for id, r := range ranges {
		lo, hi := r[0], r[1]
		var rows, distinct, matching, beyond uint64
		if err := stmt.QueryRowContext(ctx, "$."+DataSeq, int64(hi), id, int64(lo), EventKind).Scan(&rows, &distinct, &matching, &beyond); err != nil {
			return a, fmt.Errorf("account events of %s: %w", id, err)
		}
		var all uint64
		if err := anyEpoch.QueryRowContext(ctx, id, int64(lo), int64(hi), EventKind).Scan(&all); err != nil {
			return a, fmt.Errorf("account events of %s: %w", id, err)
		}
		a.Terminals++
		want := hi - lo + 1
		a.Emitted += want
		inRange := distinct - min(distinct, beyond)
		a.Stored += inRange
		a.OldEpoch += all - min(all, inRange)
		a.Missing += want - min(want, max(all, inRange))
		a.Mismatched += rows - min(rows, matching)
		a.Beyond += beyond
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT terminal, seq FROM events GROUP BY terminal, seq HAVING COUNT(*) > 1)`).Scan(&a.Duplicates); err != nil {
		return a, fmt.Errorf("count duplicate events: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM terminals WHERE epoch > 0`).Scan(&a.EpochResets); err != nil {
		return a, fmt.Errorf("count epoch resets: %w", err)
	}
	return a, nil
}
