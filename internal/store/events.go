package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Event is one agent event as stored.
type Event struct {
	Terminal   string
	Seq        uint64
	Time       time.Time
	Kind       protocol.EventKind
	Severity   string
	Data       map[string]string
	ReceivedAt time.Time
	// Counts are the usage counters this event bumps (stats.go), written in
	// its transaction and only if the event is new: an event the agent sent
	// again is stored once and counted once.
	Counts []Count `json:"-"`
}

// StatusUpdate is the latest status of a terminal, as the hub coalesced it.
type StatusUpdate struct {
	Terminal     string
	OS           string
	OSVersion    string
	AgentVersion string
	Status       json.RawMessage
	Seen         time.Time
}

// Batch is what the hub's store writer commits at once (group commit).
type Batch struct {
	Events   []Event
	Statuses []StatusUpdate
	// Counts are what the hub counted itself (a sign-in, a guest pass):
	// bumped in the batch's transaction, whatever happens to its events.
	Counts []Count
}

// Commit writes a batch in one transaction. Events already stored (same terminal,
// epoch and seq) are ignored, so a re-sent event is stored once; the terminal's
// acked seq moves to the highest seq seen. The counts of each new event, and the
// batch's own, are bumped in the same transaction. It returns how many events
// were new.
func (s *Store) Commit(ctx context.Context, b *Batch) (inserted int, err error) {
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		inserted = 0
		var counts countBatch
		if len(b.Events) > 0 {
			ins, upd := tx.StmtContext(ctx, s.insEvent), tx.StmtContext(ctx, s.updAcked)
			highest := map[string]uint64{}
			// Hub-wide event IDs (the staff API's order); a duplicate leaves a gap.
			var lastID int64
			if err := tx.QueryRowContext(ctx, `SELECT last FROM event_counter`).Scan(&lastID); err != nil {
				return err
			}
			for _, e := range b.Events {
				data := []byte("{}")
				if len(e.Data) > 0 {
					if data, err = json.Marshal(e.Data); err != nil {
						return err
					}
				}
				lastID++
				res, err := ins.ExecContext(ctx, lastID, int64(e.Seq), ms(e.Time), e.Kind, e.Severity, string(data), ms(now), e.Terminal)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				inserted += int(n)
				if n == 1 {
					counts.add(now, e.Counts)
				}
				highest[e.Terminal] = max(highest[e.Terminal], e.Seq)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE event_counter SET last = ?`, lastID); err != nil {
				return err
			}
			for term, seq := range highest {
				if _, err := upd.ExecContext(ctx, int64(seq), term); err != nil {
					return err
				}
			}
		}
		counts.add(now, b.Counts)
		if err := s.writeCounts(ctx, tx, &counts); err != nil {
			return err
		}
		var updStatus *sql.Stmt
		if len(b.Statuses) > 0 {
			updStatus = tx.StmtContext(ctx, s.updStatus)
		}
		for _, st := range b.Statuses {
			if _, err := updStatus.ExecContext(ctx, st.OS, st.OSVersion, st.AgentVersion, string(st.Status), ms(st.Seen), st.Terminal); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("commit batch of %d events: %w", len(b.Events), err)
	}
	return inserted, nil
}

// Events lists a terminal's events of the current epoch with seq > after, oldest
// first, at most limit.
func (s *Store) Events(ctx context.Context, terminal string, after uint64, limit int) ([]Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT e.seq, e.time, e.kind, e.severity, e.data, e.received_at
		FROM events e JOIN terminals t ON t.id = e.terminal AND t.epoch = e.epoch
		WHERE e.terminal = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`, terminal, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", terminal, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{Terminal: terminal}
		var seq, at, recv int64
		var data string
		if err := rows.Scan(&seq, &at, &e.Kind, &e.Severity, &data, &recv); err != nil {
			return nil, fmt.Errorf("list events of %s: %w", terminal, err)
		}
		e.Seq, e.Time, e.ReceivedAt = uint64(seq), time.UnixMilli(at), time.UnixMilli(recv)
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return nil, fmt.Errorf("list events of %s: seq %d: %w", terminal, seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events of %s: %w", terminal, err)
	}
	return out, nil
}

// CountEvents counts the stored events of a terminal over all epochs.
func (s *Store) CountEvents(ctx context.Context, terminal string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE terminal = ?`, terminal).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events of %s: %w", terminal, err)
	}
	return n, nil
}

// TotalEvents counts every stored event.
func (s *Store) TotalEvents(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// PruneEvents deletes events received before the given time and returns how many
// went. Events say what happened at a patron's seat: they are kept only as long as
// staff need them.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM events WHERE received_at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
