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

// Terminal is one enrolled patron PC.
type Terminal struct {
	ID           string
	Name         string // the host name it enrolled with
	OS           string
	OSVersion    string
	AgentVersion string
	CertSerial   string // the current certificate
	CertNotAfter time.Time
	EnrolledAt   time.Time
	RevokedAt    time.Time // zero unless revoked
	LastSeen     time.Time
	Online       bool
	LastStatus   json.RawMessage // the last protocol.Status, as received
	AckedSeq     uint64          // highest event seq stored in the current epoch
	Locked       bool            // the hub's truth for the lock state
	Branch       string          // the branch it is in, "" for none (protocol.ValidBranch)
}

// Revoked reports whether the terminal was revoked.
func (t *Terminal) Revoked() bool { return !t.RevokedAt.IsZero() }

const terminalCols = `id, name, os, os_version, agent_version, cert_serial, cert_not_after, enrolled_at,
	revoked_at, last_seen, online, last_status, acked_seq, locked, branch`

type scanner interface{ Scan(...any) error }

func scanTerminal(r scanner) (Terminal, error) {
	var t Terminal
	var notAfter, enrolled int64
	var revoked, seen sql.NullInt64
	var status sql.NullString
	var acked int64
	err := r.Scan(&t.ID, &t.Name, &t.OS, &t.OSVersion, &t.AgentVersion, &t.CertSerial, &notAfter, &enrolled,
		&revoked, &seen, &t.Online, &status, &acked, &t.Locked, &t.Branch)
	if err != nil {
		return t, err
	}
	t.CertNotAfter, t.EnrolledAt = time.UnixMilli(notAfter), time.UnixMilli(enrolled)
	t.RevokedAt, t.LastSeen = fromMS(revoked), fromMS(seen)
	if status.Valid {
		t.LastStatus = json.RawMessage(status.String)
	}
	t.AckedSeq = uint64(acked)
	return t, nil
}

// AddTerminal records a newly enrolled terminal and its first certificate, with
// an audit record, in one transaction.
func (s *Store) AddTerminal(ctx context.Context, t Terminal, actor string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO terminals (id, name, os, cert_serial, cert_not_after, enrolled_at, branch)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, t.Name, t.OS, t.CertSerial, ms(t.CertNotAfter), ms(now), t.Branch); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO certs (serial, terminal, issued_at, not_after) VALUES (?, ?, ?, ?)`,
			t.CertSerial, t.ID, ms(now), ms(t.CertNotAfter)); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyName: t.Name, protocol.AuditKeyOS: t.OS, protocol.AuditKeySerial: t.CertSerial}
		if t.Branch != "" {
			detail[protocol.AuditKeyBranch] = t.Branch
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditEnroll, t.ID, detail)
	})
	if err != nil {
		return fmt.Errorf("add terminal %s: %w", t.ID, err)
	}
	return nil
}

// AddCert records a renewed certificate for a terminal and makes it current; the
// old certificate stays valid until it expires.
//
// detail is added to the audit row (nil for a renewal over the link).
func (s *Store) AddCert(ctx context.Context, terminal, serial string, notAfter time.Time, actor string, detail map[string]string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO certs (serial, terminal, issued_at, not_after) VALUES (?, ?, ?, ?)`,
			serial, terminal, ms(now), ms(notAfter)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE terminals SET cert_serial = ?, cert_not_after = ? WHERE id = ?`,
			serial, ms(notAfter), terminal); err != nil {
			return err
		}
		d := map[string]string{protocol.AuditKeySerial: serial}
		for k, v := range detail {
			d[k] = v
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditRenew, terminal, d)
	})
	if err != nil {
		return fmt.Errorf("add certificate for %s: %w", terminal, err)
	}
	return nil
}

// TerminalByCert maps a client certificate serial to its terminal. certRevoked
// tells whether that certificate (or its terminal) is revoked. ErrNotFound if the
// serial was never issued.
func (s *Store) TerminalByCert(ctx context.Context, serial string) (t Terminal, certRevoked bool, err error) {
	row := s.byCert.QueryRowContext(ctx, serial)
	var revoked bool
	t, err = scanTerminal(scannerFunc(func(dest ...any) error { return row.Scan(append(dest, &revoked)...) }))
	if errors.Is(err, sql.ErrNoRows) {
		return t, false, fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
	}
	if err != nil {
		return t, false, fmt.Errorf("look up certificate %s: %w", serial, err)
	}
	return t, revoked || t.Revoked(), nil
}

type scannerFunc func(...any) error

func (f scannerFunc) Scan(dest ...any) error { return f(dest...) }

// Terminal returns one terminal by ID.
func (s *Store) Terminal(ctx context.Context, id string) (Terminal, error) {
	t, err := scanTerminal(s.r.QueryRowContext(ctx, `SELECT `+terminalCols+` FROM terminals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("terminal %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("look up terminal %s: %w", id, err)
	}
	return t, nil
}

// FindTerminal resolves what staff typed: a terminal ID, or a name that only one
// terminal has.
func (s *Store) FindTerminal(ctx context.Context, idOrName string) (Terminal, error) {
	if t, err := s.Terminal(ctx, idOrName); err == nil || !errors.Is(err, ErrNotFound) {
		return t, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+terminalCols+` FROM terminals WHERE name = ? COLLATE NOCASE`, idOrName)
	if err != nil {
		return Terminal{}, fmt.Errorf("find terminal %q: %w", idOrName, err)
	}
	defer rows.Close()
	var found []Terminal
	for rows.Next() {
		t, err := scanTerminal(rows)
		if err != nil {
			return Terminal{}, fmt.Errorf("find terminal %q: %w", idOrName, err)
		}
		found = append(found, t)
	}
	if err := rows.Err(); err != nil {
		return Terminal{}, fmt.Errorf("find terminal %q: %w", idOrName, err)
	}
	switch len(found) {
	case 0:
		return Terminal{}, fmt.Errorf("terminal %q: %w", idOrName, ErrNotFound)
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, t := range found {
		ids[i] = t.ID
	}
	return Terminal{}, fmt.Errorf("terminal %q: %w (use the ID: %v)", idOrName, ErrAmbiguous, ids)
}

// Terminals lists every terminal by name.
func (s *Store) Terminals(ctx context.Context) ([]Terminal, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+terminalCols+` FROM terminals ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list terminals: %w", err)
	}
	defer rows.Close()
	var out []Terminal
	for rows.Next() {
		t, err := scanTerminal(rows)
		if err != nil {
			return nil, fmt.Errorf("list terminals: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list terminals: %w", err)
	}
	return out, nil
}

// Revoke marks a terminal and all its certificates revoked, with an audit record.
// Revoking twice is not an error; the first revocation time stays.
func (s *Store) Revoke(ctx context.Context, id, actor string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE terminals SET revoked_at = COALESCE(revoked_at, ?), online = 0 WHERE id = ?`, ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certs SET revoked = 1 WHERE terminal = ?`, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditRevoke, id, nil)
	})
	if err != nil {
		return fmt.Errorf("revoke terminal %s: %w", id, err)
	}
	return nil
}

// MarkAllOffline sets every terminal offline; the hub calls it at start, since no
// agent can be connected to a hub that was not running.
func (s *Store) MarkAllOffline(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE terminals SET online = 0 WHERE online != 0`); err != nil {
		return fmt.Errorf("mark terminals offline: %w", err)
	}
	return nil
}

// Connect records that a terminal's agent said Hello: it is online now. nextSeq is
// the agent's next event number; if it is not past the stored acked seq, the
// agent's outbox was reset (reinstall, lost disk), so a new epoch of sequence
// numbers starts and reset is true. ackedSeq is what to put in Welcome.
//
// serial is the certificate the connection presented: its first use is
// recorded (RenewalAllowed reads it); "" records nothing.
func (s *Store) Connect(ctx context.Context, id, serial string, nextSeq uint64) (ackedSeq uint64, locked, reset bool, err error) {
	out, err := s.ConnectBatch(ctx, []ConnectRequest{{ID: id, Serial: serial, NextSeq: nextSeq}})
	if err != nil {
		return 0, false, false, err
	}
	r := out[0]
	return r.AckedSeq, r.Locked, r.Reset, r.Err
}

// ConnectRequest is one Hello to record (Connect's arguments).
type ConnectRequest struct {
	ID, Serial string
	NextSeq    uint64
}

// ConnectResult is what Connect returns for one request.
type ConnectResult struct {
	AckedSeq      uint64
	Locked, Reset bool
	Err           error // this request's own failure (an unknown terminal)
}

// ConnectBatch records several Hellos in one transaction, as Connect does each:
// a reconnect storm's registrations group-committed, since one transaction
// each made the single writer the storm's bottleneck. An unknown terminal
// fails alone (its result's Err); a failing transaction fails them all.
func (s *Store) ConnectBatch(ctx context.Context, reqs []ConnectRequest) ([]ConnectResult, error) {
	now := s.now()
	out := make([]ConnectResult, len(reqs))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sel, used, online := tx.StmtContext(ctx, s.selConnect), tx.StmtContext(ctx, s.updUsed), tx.StmtContext(ctx, s.updOnline)
		for i, r := range reqs {
			var acked int64
			var locked bool
			err := sel.QueryRowContext(ctx, r.ID).Scan(&acked, &locked)
			if errors.Is(err, sql.ErrNoRows) {
				out[i].Err = fmt.Errorf("connect terminal %s: %w", r.ID, err)
				continue
			}
			if err != nil {
				return err
			}
			res := ConnectResult{AckedSeq: uint64(acked), Locked: locked}
			if r.NextSeq > 0 && r.NextSeq <= res.AckedSeq {
				res.Reset = true
				res.AckedSeq = r.NextSeq - 1
				if _, err := tx.ExecContext(ctx, `UPDATE terminals SET epoch = epoch + 1, acked_seq = ? WHERE id = ?`, int64(res.AckedSeq), r.ID); err != nil {
					return err
				}
			}
			if r.Serial != "" {
				if _, err := used.ExecContext(ctx, ms(now), r.Serial); err != nil {
					return err
				}
			}
			if _, err := online.ExecContext(ctx, ms(now), r.ID); err != nil {
				return err
			}
			out[i] = res
		}
		return nil
	})
	if err != nil {
		if len(reqs) == 1 {
			return nil, fmt.Errorf("connect terminal %s: %w", reqs[0].ID, err)
		}
		return nil, fmt.Errorf("connect %d terminals: %w", len(reqs), err)
	}
	return out, nil
}

// RenewalAllowed says whether the certificate serial of terminal may be
// renewed: it is the terminal's newest, or the newest (the answer to an
// earlier renewal) has never held the link, so that answer was lost. A
// certificate whose renewal is in use is not renewed again.
func (s *Store) RenewalAllowed(ctx context.Context, terminal, serial string) (bool, error) {
	var newest string
	var used sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT t.cert_serial, c.used_at FROM terminals t LEFT JOIN certs c ON c.serial = t.cert_serial
		WHERE t.id = ?`, terminal).Scan(&newest, &used)
	if err != nil {
		return false, fmt.Errorf("look up renewal of %s: %w", terminal, err)
	}
	return newest == serial || !used.Valid, nil
}

// Disconnect records that a terminal's connection ended.
func (s *Store) Disconnect(ctx context.Context, id string) error {
	if _, err := s.updOffline.ExecContext(ctx, ms(s.now()), id); err != nil {
		return fmt.Errorf("disconnect terminal %s: %w", id, err)
	}
	return nil
}

// SetLocked records the hub's truth for a terminal's lock state.
func (s *Store) SetLocked(ctx context.Context, id string, locked bool) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE terminals SET locked = ? WHERE id = ?`, locked, id); err != nil {
		return fmt.Errorf("set lock state of %s: %w", id, err)
	}
	return nil
}

// CertsExpiring lists the terminals, not revoked, whose current certificate
// expires before the given time (agents renew at two thirds of its life, so one
// listed here has not been renewing).
func (s *Store) CertsExpiring(ctx context.Context, before time.Time) ([]Terminal, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+terminalCols+` FROM terminals
		WHERE revoked_at IS NULL AND cert_not_after < ? ORDER BY cert_not_after`, ms(before))
	if err != nil {
		return nil, fmt.Errorf("list expiring certificates: %w", err)
	}
	defer rows.Close()
	var out []Terminal
	for rows.Next() {
		t, err := scanTerminal(rows)
		if err != nil {
			return nil, fmt.Errorf("list expiring certificates: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetBranch moves a terminal to a branch ("" for none), with an audit record.
// The name is checked with protocol.ValidBranch.
func (s *Store) SetBranch(ctx context.Context, id, branch, actor string) error {
	if err := protocol.ValidBranch(branch); err != nil {
		return fmt.Errorf("set branch of %s: %w", id, err)
	}
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE terminals SET branch = ? WHERE id = ?`, branch, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditSetBranch, id, map[string]string{protocol.AuditKeyBranch: branch})
	})
	if err != nil {
		return fmt.Errorf("set branch of %s: %w", id, err)
	}
	return nil
}
