package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrWindowUnknown is returned for a window ID that is not open.
var ErrWindowUnknown = errors.New("no open maintenance window with that id")

// Audit detail keys of maintenance windows.
const (
	auditKeyScope = "scope"
	auditKeyStart = "start"
	auditKeyEnd   = "end"
)

// AddMaintenance stores a one-off window checked by protocol.ValidateWindow
// at the store's now, and audits it in the same transaction.
func (s *Store) AddMaintenance(ctx context.Context, w protocol.MaintenanceWindow, actor string) (protocol.MaintenanceWindow, error) {
	now := s.now()
	if w.Start.IsZero() {
		w.Start = now
	}
	if err := protocol.ValidateWindow(w, now); err != nil {
		return w, fmt.Errorf("start maintenance: %w", err)
	}
	w.By, w.Start, w.End = actor, time.UnixMilli(ms(w.Start)).UTC(), time.UnixMilli(ms(w.End)).UTC()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO maintenance_windows (scope, target, start_at, end_at, reason, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
			w.Scope, w.Target, ms(w.Start), ms(w.End), w.Reason, actor)
		if err != nil {
			return err
		}
		if w.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditMaintenanceStart, strconv.FormatInt(w.ID, 10), map[string]string{
			auditKeyScope: w.Scope + " " + w.Target, auditKeyStart: w.Start.Format(time.RFC3339), auditKeyEnd: w.End.Format(time.RFC3339),
		})
	})
	if err != nil {
		return w, fmt.Errorf("start maintenance: %w", err)
	}
	return w, nil
}

// EndMaintenance ends an open window now (by hand, or by the hub when its
// time was up: actor says which) and audits it.
func (s *Store) EndMaintenance(ctx context.Context, id int64, actor, why string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE maintenance_windows SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL`, ms(now), actor, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrWindowUnknown
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditMaintenanceEnd, strconv.FormatInt(id, 10), map[string]string{protocol.AuditKeyResult: why})
	})
	if err != nil {
		return fmt.Errorf("end maintenance: %w", err)
	}
	return nil
}

// MaintenanceWindows lists the windows not ended, and those that ended after
// since, by start.
func (s *Store) MaintenanceWindows(ctx context.Context, since time.Time) ([]protocol.MaintenanceWindow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, scope, target, start_at, end_at, reason, created_by, ended_at, ended_by
		FROM maintenance_windows WHERE ended_at IS NULL OR ended_at >= ? ORDER BY start_at, id`, ms(since))
	if err != nil {
		return nil, fmt.Errorf("list maintenance: %w", err)
	}
	defer rows.Close()
	var out []protocol.MaintenanceWindow
	for rows.Next() {
		var w protocol.MaintenanceWindow
		var start, end int64
		var ended sql.NullInt64
		if err := rows.Scan(&w.ID, &w.Scope, &w.Target, &start, &end, &w.Reason, &w.By, &ended, &w.EndedBy); err != nil {
			return nil, fmt.Errorf("list maintenance: %w", err)
		}
		w.Start, w.End, w.EndedAt = time.UnixMilli(start).UTC(), time.UnixMilli(end).UTC(), fromMS(ended)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list maintenance: %w", err)
	}
	return out, nil
}

// SetMaintenanceSchedule adds (or, remove, deletes) a branch's recurring
// window, audited.
func (s *Store) SetMaintenanceSchedule(ctx context.Context, sc protocol.MaintenanceSchedule, remove bool, actor string) error {
	if remove {
		if err := protocol.ValidBranch(sc.Branch); err != nil || sc.Branch == "" {
			return fmt.Errorf("schedule maintenance: a branch is required")
		}
	} else if err := sc.Validate(); err != nil {
		return fmt.Errorf("schedule maintenance: %w", err)
	}
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		result := "added " + sc.Weekday.String() + " " + sc.Start + " for " + strconv.Itoa(sc.Minutes) + " min"
		if remove {
			result = "removed " + sc.Weekday.String() + " " + sc.Start
			_, err = tx.ExecContext(ctx, `DELETE FROM maintenance_schedules WHERE branch = ? AND weekday = ? AND start = ?`, sc.Branch, int(sc.Weekday), sc.Start)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO maintenance_schedules (branch, weekday, start, minutes, created_by) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (branch, weekday, start) DO UPDATE SET minutes = excluded.minutes, created_by = excluded.created_by`,
				sc.Branch, int(sc.Weekday), sc.Start, sc.Minutes, actor)
		}
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditMaintenanceSchedule, sc.Branch, map[string]string{protocol.AuditKeyResult: result})
	})
	if err != nil {
		return fmt.Errorf("schedule maintenance: %w", err)
	}
	return nil
}

// MaintenanceSchedules lists every branch's recurring windows.
func (s *Store) MaintenanceSchedules(ctx context.Context) ([]protocol.MaintenanceSchedule, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT branch, weekday, start, minutes, created_by FROM maintenance_schedules ORDER BY branch, weekday, start`)
	if err != nil {
		return nil, fmt.Errorf("list maintenance schedules: %w", err)
	}
	defer rows.Close()
	var out []protocol.MaintenanceSchedule
	for rows.Next() {
		var sc protocol.MaintenanceSchedule
		var wd int
		if err := rows.Scan(&sc.Branch, &wd, &sc.Start, &sc.Minutes, &sc.By); err != nil {
			return nil, fmt.Errorf("list maintenance schedules: %w", err)
		}
		sc.Weekday = time.Weekday(wd)
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list maintenance schedules: %w", err)
	}
	return out, nil
}
