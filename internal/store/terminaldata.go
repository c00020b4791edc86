package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// What the hub keeps about one PC, all of it (carrel-hub export --terminal),
// and how it is erased when the PC leaves service (carrel-hub erase).

// TerminalExport is everything the hub's database holds about one PC.
type TerminalExport struct {
	Exported time.Time        `json:"exported"`
	Terminal ExportedTerminal `json:"terminal"`
	Certs    []ExportedCert   `json:"certificates"`
	Events   []EventRecord    `json:"events"`
	Commands []Command        `json:"commands"`
	Counts   []ExportedCount  `json:"counts"`
	Audit    []AuditRecord    `json:"audit"`
}

// ExportedTerminal is the PC's row.
type ExportedTerminal struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Branch       string          `json:"branch,omitempty"`
	OS           string          `json:"os"`
	OSVersion    string          `json:"os_version"`
	AgentVersion string          `json:"agent_version"`
	EnrolledAt   time.Time       `json:"enrolled_at"`
	RevokedAt    time.Time       `json:"revoked_at,omitzero"`
	LastSeen     time.Time       `json:"last_seen,omitzero"`
	LastStatus   json.RawMessage `json:"last_status,omitempty"`
}

type ExportedCert struct {
	Serial   string    `json:"serial"`
	IssuedAt time.Time `json:"issued_at"`
	NotAfter time.Time `json:"not_after"`
	Revoked  bool      `json:"revoked"`
}

type ExportedCount struct {
	Hour   time.Time       `json:"hour"`
	Metric protocol.Metric `json:"metric"`
	Label  string          `json:"label,omitempty"`
	Branch string          `json:"branch,omitempty"`
	N      int64           `json:"n"`
}

// ExportTerminal gathers everything kept about a terminal (ID or name).
func (s *Store) ExportTerminal(ctx context.Context, idOrName string) (TerminalExport, error) {
	t, err := s.FindTerminal(ctx, idOrName)
	if err != nil {
		return TerminalExport{}, err
	}
	x := TerminalExport{Exported: s.now().UTC(), Terminal: ExportedTerminal{ID: t.ID, Name: t.Name, Branch: t.Branch, OS: t.OS,
		OSVersion: t.OSVersion, AgentVersion: t.AgentVersion, EnrolledAt: t.EnrolledAt.UTC(), RevokedAt: t.RevokedAt,
		LastSeen: t.LastSeen, LastStatus: t.LastStatus},
		Certs: []ExportedCert{}, Commands: []Command{}, Counts: []ExportedCount{}, Audit: []AuditRecord{}}
	fail := func(err error) (TerminalExport, error) {
		return TerminalExport{}, fmt.Errorf("export %s: %w", t.ID, err)
	}
	if x.Events, err = s.queryEvents(ctx, `SELECT id, terminal, seq, time, kind, severity, data, received_at FROM events
		WHERE terminal = ? ORDER BY id`, t.ID); err != nil {
		return fail(err)
	}
	if x.Events == nil {
		x.Events = []EventRecord{}
	}
	err = s.each(ctx, `SELECT serial, issued_at, not_after, revoked FROM certs WHERE terminal = ? ORDER BY issued_at`, []any{t.ID}, func(r *sql.Rows) error {
		var c ExportedCert
		var issued, notAfter int64
		if err := r.Scan(&c.Serial, &issued, &notAfter, &c.Revoked); err != nil {
			return err
		}
		c.IssuedAt, c.NotAfter = time.UnixMilli(issued).UTC(), time.UnixMilli(notAfter).UTC()
		x.Certs = append(x.Certs, c)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	err = s.each(ctx, `SELECT id FROM commands WHERE terminal = ? ORDER BY issued_at`, []any{t.ID}, func(r *sql.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		c, err := s.GetCommand(ctx, id)
		if err == nil {
			x.Commands = append(x.Commands, c)
		}
		return err
	})
	if err != nil {
		return fail(err)
	}
	err = s.each(ctx, `SELECT hour, metric, label, branch, n FROM counts WHERE terminal = ? ORDER BY hour, metric, label`, []any{t.ID}, func(r *sql.Rows) error {
		var c ExportedCount
		var hour int64
		if err := r.Scan(&hour, &c.Metric, &c.Label, &c.Branch, &c.N); err != nil {
			return err
		}
		c.Hour = time.UnixMilli(hour).UTC()
		x.Counts = append(x.Counts, c)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	err = s.each(ctx, `SELECT seq, time, actor, action, target, detail, prev, hash, mac FROM audit WHERE target = ? ORDER BY seq`, []any{t.ID}, func(r *sql.Rows) error {
		var a AuditRecord
		var at int64
		if err := r.Scan(&a.Seq, &at, &a.Actor, &a.Action, &a.Target, &a.Detail, &a.Prev, &a.Hash, &a.MAC); err != nil {
			return err
		}
		a.Time = time.UnixMilli(at).UTC()
		x.Audit = append(x.Audit, a)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return x, nil
}

// each runs q on the readers and calls fn for every row.
func (s *Store) each(ctx context.Context, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ErrInService is what EraseTerminal refuses a PC still enrolled with, unless
// forced: erasing it would leave the room's history with a hole while it goes on.
var ErrInService = errors.New("terminal is enrolled and not revoked")

// Erased says what EraseTerminal did.
type Erased struct {
	ID, Name string
	Events   int64 // events deleted
	Commands int64 // staff commands deleted
	Counts   int64 // counter rows made anonymous (their terminal column emptied)
}

// EraseTerminal deletes what the hub keeps about a PC taken out of service
// (ID or name): its events, its staff commands and its last status are
// deleted; its counters lose their terminal (merged into the branch's
// anonymous counts), so every report by day, branch or metric stays as it
// was. Kept: the terminal's row (name, enrollment and revocation, so that the
// audit log's rows about it still name something, and its certificates stay
// revoked) and the audit log, which is append-only and holds no patron data.
// A PC that is enrolled and not revoked is refused with ErrInService unless
// force. The erase is audited in the same transaction.
func (s *Store) EraseTerminal(ctx context.Context, idOrName, actor string, force bool) (Erased, error) {
	t, err := s.FindTerminal(ctx, idOrName)
	if err != nil {
		return Erased{}, err
	}
	if !t.Revoked() && !force {
		return Erased{}, fmt.Errorf("erase %s (%s): %w; revoke it first (carrel-hub revoke), or erase with --force", t.Name, t.ID, ErrInService)
	}
	out := Erased{ID: t.ID, Name: t.Name}
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		for _, step := range []struct {
			q string
			n *int64
		}{
			{`DELETE FROM events WHERE terminal = ?1`, &out.Events},
			{`DELETE FROM commands WHERE terminal = ?1`, &out.Commands},
			{`INSERT INTO counts (hour, metric, label, branch, terminal, n)
				SELECT hour, metric, label, branch, '', n FROM counts WHERE terminal = ?1
				ON CONFLICT (hour, metric, branch, terminal, label) DO UPDATE SET n = n + excluded.n`, nil},
			{`DELETE FROM counts WHERE terminal = ?1`, &out.Counts},
			{`UPDATE terminals SET last_status = NULL WHERE id = ?1`, nil},
		} {
			res, err := tx.ExecContext(ctx, step.q, t.ID)
			if err != nil {
				return err
			}
			if step.n != nil {
				*step.n, _ = res.RowsAffected()
			}
		}
		detail := map[string]string{protocol.AuditKeyName: t.Name, protocol.AuditKeyEvents: fmt.Sprint(out.Events),
			protocol.AuditKeyCounts: fmt.Sprint(out.Counts)}
		if !t.Revoked() {
			detail[protocol.AuditKeyForced] = "true"
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditErase, t.ID, detail)
	})
	if err != nil {
		return Erased{}, fmt.Errorf("erase %s: %w", t.ID, err)
	}
	return out, nil
}
