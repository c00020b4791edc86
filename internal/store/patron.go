package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The patron session's tables (internal/patron; migration step 7). Nothing
// here holds a card number or a PIN: a card is known by Ledger, an HMAC under
// the day's key (PatronDayKey), and the key is deleted after its day
// (PrunePatronDays), after which no row can be tied to a card again.

// Errors of the patron session that callers test with errors.Is.
var (
	ErrPatronInUse  = errors.New("the card has a running session at another PC")
	ErrGuestUnknown = errors.New("guest pass unknown")
	ErrGuestUsed    = errors.New("guest pass already used")
	ErrGuestExpired = errors.New("guest pass expired")
)

// PatronSession is one granted patron session.
type PatronSession struct {
	ID       string
	Terminal string
	Kind     protocol.PatronKind
	// Ledger is the card's pseudonym for the daily allowance (nil for a
	// guest); Day the local date ("2006-01-02") whose ledger it counts in.
	Ledger []byte
	Day    string
	Issued time.Time
	Ends   time.Time
	// Grant is the signed protocol.Grant as sent to the agent (JSON).
	Grant string
	// Ended is zero while the session runs; Used is the seconds it counted.
	Ended time.Time
	Used  int64
}

// GuestPass is a guest pass as stored: its code's hash only.
type GuestPass struct {
	Batch   string
	Branch  string
	Minutes int // 0: a day pass (until closing)
	Created time.Time
	Expires time.Time
	Used    time.Time
}

// PatronDayKey returns day's pseudonym key, making it on first use.
func (s *Store) PatronDayKey(ctx context.Context, day string) ([]byte, error) {
	key := make([]byte, 32)
	rand.Read(key)
	var out []byte
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO patron_day_keys (day, key) VALUES (?, ?)`, day, key); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT key FROM patron_day_keys WHERE day = ?`, day).Scan(&out)
	})
	if err != nil {
		return nil, fmt.Errorf("patron day key: %w", err)
	}
	return out, nil
}

// PrunePatronDays deletes the day keys and ledger rows of days before today,
// forgets the pseudonym of sessions of those days, deletes sessions that ended
// before cutoff and guest passes that expired before it. It returns how many
// day keys it deleted.
func (s *Store) PrunePatronDays(ctx context.Context, today string, cutoff time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM patron_day_keys WHERE day < ?`, today)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM patron_ledger WHERE day < ?`, []any{today}},
			{`UPDATE patron_sessions SET ledger = NULL WHERE day < ? AND ended IS NOT NULL`, []any{today}},
			{`DELETE FROM patron_sessions WHERE ended IS NOT NULL AND ended < ?`, []any{ms(cutoff)}},
			{`DELETE FROM guest_passes WHERE expires_at < ?`, []any{ms(cutoff)}},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune patron days: %w", err)
	}
	return n, nil
}

// endRunning settles the running session of a terminal, if any: a PC that
// asks for a new sign-in has ended its last session, whether or not its
// session.ended has arrived yet. It counts the time until now or the end.
func endRunning(ctx context.Context, tx *sql.Tx, terminal string, now time.Time) error {
	var id, day string
	var ledger []byte
	var issued, ends int64
	err := tx.QueryRowContext(ctx, `SELECT id, ledger, day, issued, ends FROM patron_sessions WHERE terminal = ? AND ended IS NULL`, terminal).
		Scan(&id, &ledger, &day, &issued, &ends)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	used := (min(ms(now), ends) - issued) / 1000
	return settle(ctx, tx, id, ledger, day, max(used, 0), now)
}

func settle(ctx context.Context, tx *sql.Tx, id string, ledger []byte, day string, used int64, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE patron_sessions SET ended = ?, used = ? WHERE id = ?`, ms(now), used, id); err != nil {
		return err
	}
	if ledger == nil || used == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO patron_ledger (day, patron, used) VALUES (?, ?, ?)
		ON CONFLICT (day, patron) DO UPDATE SET used = used + excluded.used`, day, ledger, used)
	return err
}

// StartCardSession grants a card session in one write transaction, so that
// two sign-ins with one card at once cannot both spend the same allowance: it
// ends the terminal's own running session, refuses with ErrPatronInUse when
// the card has a session running (not past its end) at another PC, adds up
// the seconds the card used on day (settled, plus the whole grant of sessions
// past their end that no PC settled), and asks decide for the session to
// insert. An error from decide is returned as is, and nothing is written.
func (s *Store) StartCardSession(ctx context.Context, terminal string, ledger []byte, day string, now time.Time,
	decide func(usedSeconds int64) (PatronSession, error)) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := endRunning(ctx, tx, terminal, now); err != nil {
			return fmt.Errorf("start card session: %w", err)
		}
		var running int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM patron_sessions WHERE ledger = ? AND ended IS NULL AND ends > ?`,
			ledger, ms(now)).Scan(&running); err != nil {
			return fmt.Errorf("start card session: %w", err)
		}
		if running > 0 {
			return ErrPatronInUse
		}
		var settled, unsettled int64
		err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT used FROM patron_ledger WHERE day = ? AND patron = ?), 0),
			COALESCE((SELECT SUM(ends - issued) / 1000 FROM patron_sessions WHERE ledger = ? AND day = ? AND ended IS NULL), 0)`,
			day, ledger, ledger, day).Scan(&settled, &unsettled)
		if err != nil {
			return fmt.Errorf("start card session: %w", err)
		}
		ps, err := decide(settled + unsettled)
		if err != nil {
			return err
		}
		ps.Terminal, ps.Kind, ps.Ledger, ps.Day = terminal, protocol.PatronCard, ledger, day
		return insertSession(ctx, tx, ps)
	})
}

// StartGuestSession uses a guest pass (its code's SHA-256) and grants its
// session in one write transaction: ErrGuestUnknown, ErrGuestUsed or
// ErrGuestExpired refuse it; decide makes the session from the pass.
func (s *Store) StartGuestSession(ctx context.Context, terminal string, hash [32]byte, now time.Time,
	decide func(GuestPass) (PatronSession, error)) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var p GuestPass
		var created, expires int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT batch, branch, minutes, created_at, expires_at, used_at FROM guest_passes WHERE hash = ?`, hash[:]).
			Scan(&p.Batch, &p.Branch, &p.Minutes, &created, &expires, &used)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrGuestUnknown
		case err != nil:
			return fmt.Errorf("start guest session: %w", err)
		case used.Valid:
			return ErrGuestUsed
		case expires <= ms(now):
			return ErrGuestExpired
		}
		p.Created, p.Expires = time.UnixMilli(created), time.UnixMilli(expires)
		if err := endRunning(ctx, tx, terminal, now); err != nil {
			return fmt.Errorf("start guest session: %w", err)
		}
		ps, err := decide(p)
		if err != nil {
			return err
		}
		ps.Terminal, ps.Kind, ps.Ledger = terminal, protocol.PatronGuest, nil
		if _, err := tx.ExecContext(ctx, `UPDATE guest_passes SET used_at = ?, session = ? WHERE hash = ?`, ms(now), ps.ID, hash[:]); err != nil {
			return fmt.Errorf("start guest session: %w", err)
		}
		return insertSession(ctx, tx, ps)
	})
}

func insertSession(ctx context.Context, tx *sql.Tx, ps PatronSession) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO patron_sessions (id, terminal, kind, ledger, day, issued, ends, grant_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ps.ID, ps.Terminal, string(ps.Kind), ps.Ledger, ps.Day, ms(ps.Issued), ms(ps.Ends), ps.Grant); err != nil {
		return fmt.Errorf("insert patron session: %w", err)
	}
	return nil
}

// SettlePatronSession ends a running session that its own terminal reported
// ended, counting used seconds (at most its grant) in the day's ledger. It
// reports whether it settled anything: a session already settled, unknown,
// or another terminal's is left alone.
func (s *Store) SettlePatronSession(ctx context.Context, id, terminal string, used int64, now time.Time) (bool, error) {
	done := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var ledger []byte
		var day string
		var issued, ends int64
		err := tx.QueryRowContext(ctx, `SELECT ledger, day, issued, ends FROM patron_sessions WHERE id = ? AND terminal = ? AND ended IS NULL`, id, terminal).
			Scan(&ledger, &day, &issued, &ends)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		used = min(max(used, 0), max((ends-issued)/1000, 0))
		done = true
		return settle(ctx, tx, id, ledger, day, used, now)
	})
	if err != nil {
		return false, fmt.Errorf("settle patron session %s: %w", id, err)
	}
	return done, nil
}

// SettleExpiredSessions settles the sessions that ran past their end by more
// than grace without their PC reporting (a PC switched off): each counts its
// whole grant.
func (s *Store) SettleExpiredSessions(ctx context.Context, now time.Time, grace time.Duration) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, ledger, day, issued, ends FROM patron_sessions WHERE ended IS NULL AND ends < ?`, ms(now.Add(-grace)))
		if err != nil {
			return err
		}
		type row struct {
			id, day       string
			ledger        []byte
			issued, ended int64
		}
		var rs []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.ledger, &r.day, &r.issued, &r.ended); err != nil {
				rows.Close()
				return err
			}
			rs = append(rs, r)
		}
		rows.Close()
		for _, r := range rs {
			if err := settle(ctx, tx, r.id, r.ledger, r.day, max((r.ended-r.issued)/1000, 0), now); err != nil {
				return err
			}
		}
		n = len(rs)
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("settle expired sessions: %w", err)
	}
	return n, nil
}

// RunningPatronSession is the terminal's running session, or ErrNotFound.
func (s *Store) RunningPatronSession(ctx context.Context, terminal string) (PatronSession, error) {
	return s.patronSession(ctx, `terminal = ? AND ended IS NULL`, terminal)
}

// PatronSessionByID is a session by its ID, or ErrNotFound.
func (s *Store) PatronSessionByID(ctx context.Context, id string) (PatronSession, error) {
	return s.patronSession(ctx, `id = ?`, id)
}

func (s *Store) patronSession(ctx context.Context, where string, arg any) (PatronSession, error) {
	var ps PatronSession
	var kind string
	var issued, ends int64
	var ended, used sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, terminal, kind, ledger, day, issued, ends, grant_json, ended, used FROM patron_sessions WHERE `+where, arg).
		Scan(&ps.ID, &ps.Terminal, &kind, &ps.Ledger, &ps.Day, &issued, &ends, &ps.Grant, &ended, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return ps, ErrNotFound
	}
	if err != nil {
		return ps, fmt.Errorf("patron session: %w", err)
	}
	ps.Kind, ps.Issued, ps.Ends, ps.Ended, ps.Used = protocol.PatronKind(kind), time.UnixMilli(issued), time.UnixMilli(ends), fromMS(ended), used.Int64
	return ps, nil
}

// ChangePatronSession gives a running session a new end and grant (staff
// added or removed time), with an audit record by actor.
func (s *Store) ChangePatronSession(ctx context.Context, id string, ends time.Time, grant string, actor string, detail map[string]string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var terminal string
		if err := tx.QueryRowContext(ctx, `SELECT terminal FROM patron_sessions WHERE id = ? AND ended IS NULL`, id).Scan(&terminal); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE patron_sessions SET ends = ?, grant_json = ? WHERE id = ?`, ms(ends), grant, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, s.now(), actor, protocol.AuditSessionTime, terminal, detail)
	})
	if err != nil {
		return fmt.Errorf("change patron session %s: %w", id, err)
	}
	return nil
}

// CreateGuestPasses stores a batch of guest passes (their codes' SHA-256),
// with one audit record for the batch.
func (s *Store) CreateGuestPasses(ctx context.Context, batch, branch string, hashes [][32]byte, minutes int, expires time.Time, actor string) error {
	now := s.now()
	day := "day"
	if minutes > 0 {
		day = strconv.Itoa(minutes)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO guest_passes (hash, batch, branch, minutes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
				h[:], batch, branch, minutes, ms(now), ms(expires)); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditGuestCreate, branch, map[string]string{
			protocol.AuditKeyBatch: batch, protocol.AuditKeyCount: strconv.Itoa(len(hashes)),
			protocol.AuditKeyMinutes: day, protocol.AuditKeyExpires: expires.UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return fmt.Errorf("create guest passes: %w", err)
	}
	return nil
}

// PatronRules returns a branch's own rules; ok false when it has none.
func (s *Store) PatronRules(ctx context.Context, branch string) (r protocol.Rules, ok bool, err error) {
	var text string
	err = s.r.QueryRowContext(ctx, `SELECT rules FROM patron_rules WHERE branch = ?`, branch).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("patron rules of %q: %w", branch, err)
	}
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return r, false, fmt.Errorf("patron rules of %q: %w", branch, err)
	}
	return r, true, nil
}

// AllPatronRules returns every branch's own rules.
func (s *Store) AllPatronRules(ctx context.Context) (map[string]protocol.Rules, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT branch, rules FROM patron_rules`)
	if err != nil {
		return nil, fmt.Errorf("patron rules: %w", err)
	}
	defer rows.Close()
	out := map[string]protocol.Rules{}
	for rows.Next() {
		var b, text string
		var r protocol.Rules
		if err := rows.Scan(&b, &text); err != nil {
			return nil, fmt.Errorf("patron rules: %w", err)
		}
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			return nil, fmt.Errorf("patron rules of %q: %w", b, err)
		}
		out[b] = r
	}
	return out, rows.Err()
}

// SetPatronRules replaces a branch's rules (checked with Rules.Validate), with
// an audit record by actor; nil rules delete the branch's own, so that it
// follows the defaults again (the defaults, branch "", cannot be deleted).
func (s *Store) SetPatronRules(ctx context.Context, branch string, r *protocol.Rules, actor string) error {
	if err := protocol.ValidBranch(branch); err != nil {
		return fmt.Errorf("set rules: %w", err)
	}
	if r == nil && branch == "" {
		return errors.New("set rules: the default rules cannot be deleted")
	}
	var text []byte
	if r != nil {
		if err := r.Validate(); err != nil {
			return err
		}
		text, _ = json.Marshal(r)
	}
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if r == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM patron_rules WHERE branch = ?`, branch)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO patron_rules (branch, rules, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (branch) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at`, branch, string(text), ms(now))
		}
		if err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyBranch: branch, protocol.AuditKeyResult: "deleted"}
		if r != nil {
			detail[protocol.AuditKeyResult] = string(text)
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditRulesSet, branch, detail)
	})
	if err != nil {
		return fmt.Errorf("set rules of %q: %w", branch, err)
	}
	return nil
}
