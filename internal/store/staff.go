package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Staff accounts, their sessions, and the global event order the staff API needs.
// Passwords are stored only as the argon2id string the hub gives (with its
// parameters); sessions only as the SHA-256 of the bearer secret. The TOTP secret
// is stored as is, since the hub must compute codes from it: the database file is
// 0600 in a 0700 directory (2026-11: not encrypted at rest).

// Errors of the staff accounts.
var (
	ErrStaffExists = errors.New("staff account already exists")
	ErrSetupClosed = errors.New("setup is closed: a staff account exists")
	ErrStepUsed    = errors.New("totp code already used")
	ErrNoSession   = errors.New("no such session")
)

// StaffAccount is one staff member as stored.
type StaffAccount struct {
	User        string
	Role        string // "desk" or "admin"
	Password    string // the encoded argon2id hash
	TOTPSecret  string // base32
	LastStep    int64  // the last accepted TOTP time step; a step ≤ it is refused
	Failures    int    // consecutive failed logins
	LockedUntil time.Time
	Disabled    bool
	Created     time.Time
	LastLogin   time.Time
	// Directory accounts have no Password: the library's directory checks it
	// and says the role at each login and request (internal/directory).
	Directory bool
}

const staffCols = `user, role, password, totp_secret, last_step, failures, locked_until, disabled, created_at, last_login, directory`

func scanStaff(r scanner) (StaffAccount, error) {
	var a StaffAccount
	var locked, created int64
	var last sql.NullInt64
	if err := r.Scan(&a.User, &a.Role, &a.Password, &a.TOTPSecret, &a.LastStep, &a.Failures, &locked, &a.Disabled, &created, &last, &a.Directory); err != nil {
		return a, err
	}
	if locked > 0 {
		a.LockedUntil = time.UnixMilli(locked)
	}
	a.Created, a.LastLogin = time.UnixMilli(created), fromMS(last)
	return a, nil
}

// StaffCount counts staff accounts, disabled ones included.
func (s *Store) StaffCount(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count staff: %w", err)
	}
	return n, nil
}

// CreateStaff adds an account with an audit record. With firstOnly it succeeds
// only while no account exists (first-run setup), atomically: ErrSetupClosed
// otherwise. ErrStaffExists if the name is taken (names ignore case).
func (s *Store) CreateStaff(ctx context.Context, a StaffAccount, actor string, firstOnly bool) error {
	now := s.now()
	action := protocol.AuditStaffCreate
	if firstOnly {
		action = protocol.AuditStaffSetup
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if firstOnly {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff`).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return ErrSetupClosed
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff WHERE user = ?`, a.User).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrStaffExists
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff (user, role, password, totp_secret, created_at, directory) VALUES (?, ?, ?, ?, ?, ?)`,
			a.User, a.Role, a.Password, a.TOTPSecret, ms(now), a.Directory); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyUser: a.User, protocol.AuditKeyRole: a.Role, protocol.AuditKeyResult: "ok"}
		if a.Directory {
			detail[protocol.AuditKeyRole] = "from the directory"
		}
		return s.appendAudit(ctx, tx, now, actor, action, "", detail)
	})
	if err != nil {
		return fmt.Errorf("create staff %q: %w", a.User, err)
	}
	return nil
}

// StaffByName returns one account (names ignore case).
func (s *Store) StaffByName(ctx context.Context, user string) (StaffAccount, error) {
	a, err := scanStaff(s.r.QueryRowContext(ctx, `SELECT `+staffCols+` FROM staff WHERE user = ?`, user))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("staff %q: %w", user, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("look up staff %q: %w", user, err)
	}
	return a, nil
}

// StaffList lists every account by name.
func (s *Store) StaffList(ctx context.Context) ([]StaffAccount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffCols+` FROM staff ORDER BY user`)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer rows.Close()
	var out []StaffAccount
	for rows.Next() {
		a, err := scanStaff(rows)
		if err != nil {
			return nil, fmt.Errorf("list staff: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	return out, nil
}

// ErrLastAdmin refuses to disable the last enabled admin: nobody could manage
// staff afterwards.
var ErrLastAdmin = errors.New("the last enabled admin cannot be disabled")

// DisableStaff disables an account, ends its sessions, and audits it.
func (s *Store) DisableStaff(ctx context.Context, user, actor string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var role string
		var disabled bool
		err := tx.QueryRowContext(ctx, `SELECT role, disabled FROM staff WHERE user = ?`, user).Scan(&role, &disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if role == "admin" && !disabled {
			var admins int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff WHERE role = 'admin' AND disabled = 0`).Scan(&admins); err != nil {
				return err
			}
			if admins <= 1 {
				return ErrLastAdmin
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET disabled = 1 WHERE user = ?`, user); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE user = ?`, user); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditStaffDisable, "", map[string]string{protocol.AuditKeyUser: user, protocol.AuditKeyResult: "ok"})
	})
	if err != nil {
		return fmt.Errorf("disable staff %q: %w", user, err)
	}
	return nil
}

// UnlockStaff clears an account's failed logins and lock (the remote one: see
// internal/staffapi), and audits it. The lock it lifted, if any, is in the
// audit row. ErrNotFound if there is no such account.
func (s *Store) UnlockStaff(ctx context.Context, user, actor string) (wasLockedUntil time.Time, err error) {
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var locked int64
		err := tx.QueryRowContext(ctx, `SELECT locked_until FROM staff WHERE user = ?`, user).Scan(&locked)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE staff SET failures = 0, locked_until = 0 WHERE user = ?`, user); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyUser: user, protocol.AuditKeyResult: "ok"}
		if locked > ms(now) {
			wasLockedUntil = time.UnixMilli(locked)
			detail[protocol.AuditKeyLockedUntil] = wasLockedUntil.UTC().Format(time.RFC3339)
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditStaffUnlock, "", detail)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("unlock staff %q: %w", user, err)
	}
	return wasLockedUntil, nil
}

// ResetTOTP gives an account a new TOTP secret (base32): the old
// authenticator's codes stop working, the account's sessions end, its lock is
// cleared, and it is audited. The last accepted step stays, so no code of a
// step already used works. ErrNotFound if there is no such account.
func (s *Store) ResetTOTP(ctx context.Context, user, secret, actor string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE staff SET totp_secret = ?, failures = 0, locked_until = 0 WHERE user = ?`, secret, user)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE user = ?`, user); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditStaffNewTOTP, "", map[string]string{protocol.AuditKeyUser: user, protocol.AuditKeyResult: "ok"})
	})
	if err != nil {
		return fmt.Errorf("reset totp of %q: %w", user, err)
	}
	return nil
}

// LoginSuccess records a verified login (audited as "staff:<user>"): step becomes the last accepted TOTP
// step (refused with ErrStepUsed if it is not above the stored one, so a code
// works once even under concurrent logins), failures reset, the session stored
// (only its hash), and the login audited, in one transaction.
func (s *Store) LoginSuccess(ctx context.Context, user string, step int64, sessionHash []byte, now, expires time.Time, remote string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE staff SET last_step = ?, failures = 0, locked_until = 0, last_login = ?
			WHERE user = ? AND last_step < ?`, step, ms(now), user, step)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrStepUsed
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staff_sessions (hash, user, created_at, expires_at, last_used) VALUES (?, ?, ?, ?, ?)`,
			sessionHash, user, ms(now), ms(expires), ms(now)); err != nil {
			return err
		}
		// Sessions past their absolute expiry are of no use to anyone.
		if _, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE expires_at <= ?`, ms(now)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, "staff:"+user, protocol.AuditStaffLogin, "", map[string]string{protocol.AuditKeyRemote: remote, protocol.AuditKeyResult: "ok"})
	})
	if err != nil {
		return fmt.Errorf("record login of %q: %w", user, err)
	}
	return nil
}

// LoginFailure counts a failed login of an existing account and audits it with
// why. At maxFailures consecutive failures the account is locked until
// now+lockFor; lockedNow says whether this failure locked it.
func (s *Store) LoginFailure(ctx context.Context, user, why, remote string, now time.Time, maxFailures int, lockFor time.Duration) (lockedNow bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var failures int
		if err := tx.QueryRowContext(ctx, `UPDATE staff SET failures = failures + 1 WHERE user = ? RETURNING failures`, user).Scan(&failures); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyRemote: remote, protocol.AuditKeyResult: "refused: " + why, protocol.AuditKeyFailures: fmt.Sprint(failures)}
		if failures >= maxFailures {
			lockedNow = true
			if _, err := tx.ExecContext(ctx, `UPDATE staff SET failures = 0, locked_until = ? WHERE user = ?`, ms(now.Add(lockFor)), user); err != nil {
				return err
			}
			detail[protocol.AuditKeyLockedUntil] = now.Add(lockFor).UTC().Format(time.RFC3339)
		}
		return s.appendAudit(ctx, tx, now, "staff:"+user, protocol.AuditStaffLogin, "", detail)
	})
	if err != nil {
		return false, fmt.Errorf("record failed login of %q: %w", user, err)
	}
	return lockedNow, nil
}

// SetStaffRole records the role the directory gave a directory account, when
// it changed, with an audit record.
func (s *Store) SetStaffRole(ctx context.Context, user, role, actor string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE staff SET role = ? WHERE user = ? AND role <> ?`, role, user, role)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditStaffRole, "", map[string]string{protocol.AuditKeyUser: user, protocol.AuditKeyRole: role})
	})
	if err != nil {
		return fmt.Errorf("set role of %q: %w", user, err)
	}
	return nil
}

// Session is a live staff session joined with its account.
type Session struct {
	User      string
	Role      string
	Directory bool // the account's password and role are the directory's
	Disabled  bool
	Created   time.Time
	ExpiresAt time.Time // absolute
	LastUsed  time.Time
}

// SessionByHash finds a session by the SHA-256 of its secret. ErrNoSession if
// there is none (or its account is gone).
func (s *Store) SessionByHash(ctx context.Context, hash []byte) (Session, error) {
	var ss Session
	var stored []byte
	var created, expires, used int64
	err := s.r.QueryRowContext(ctx, `SELECT x.hash, x.user, a.role, a.directory, a.disabled, x.created_at, x.expires_at, x.last_used
		FROM staff_sessions x JOIN staff a ON a.user = x.user WHERE x.hash = ?`, hash).
		Scan(&stored, &ss.User, &ss.Role, &ss.Directory, &ss.Disabled, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(stored, hash) != 1) {
		return ss, ErrNoSession
	}
	if err != nil {
		return ss, fmt.Errorf("look up session: %w", err)
	}
	ss.Created, ss.ExpiresAt, ss.LastUsed = time.UnixMilli(created), time.UnixMilli(expires), time.UnixMilli(used)
	return ss, nil
}

// TouchSession moves a session's last use to now.
func (s *Store) TouchSession(ctx context.Context, hash []byte, now time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE staff_sessions SET last_used = MAX(last_used, ?) WHERE hash = ?`, ms(now), hash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// EndSession deletes a session (logout or expiry), auditing it when actor is set.
func (s *Store) EndSession(ctx context.Context, hash []byte, actor, why string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM staff_sessions WHERE hash = ?`, hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || actor == "" {
			return nil
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditStaffLogout, "", map[string]string{protocol.AuditKeyResult: why})
	})
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// EventRecord is a stored event with its hub-wide ID.
type EventRecord struct {
	ID int64
	Event
}

// EventsAfter lists events with ID > after, oldest first, at most limit; only of
// terminal if it is not empty.
func (s *Store) EventsAfter(ctx context.Context, after int64, terminal string, limit int) ([]EventRecord, error) {
	q := `SELECT id, terminal, seq, time, kind, severity, data, received_at FROM events WHERE id > ?`
	args := []any{after}
	if terminal != "" {
		q += ` AND terminal = ?`
		args = append(args, terminal)
	}
	q += ` ORDER BY id LIMIT ?`
	return s.queryEvents(ctx, q, append(args, limit)...)
}

// LatestEvents lists the newest limit events with ID > after, oldest first; only
// of terminal if it is not empty.
func (s *Store) LatestEvents(ctx context.Context, after int64, terminal string, limit int) ([]EventRecord, error) {
	q := `SELECT id, terminal, seq, time, kind, severity, data, received_at FROM events WHERE id > ?`
	args := []any{after}
	if terminal != "" {
		q += ` AND terminal = ?`
		args = append(args, terminal)
	}
	q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
	return s.queryEvents(ctx, q, append(args, limit)...)
}

// quarantineKinds are the agent events (agent/downloads) the quarantine list is
// made of; a partial index holds just them.
const quarantineKinds = `kind IN ('` + string(protocol.EventDownloadBlocked) + `', '` + string(protocol.EventQuarantineReleased) + `')`

// QuarantineEvents lists every stored download.blocked and quarantine.released
// event, oldest first.
func (s *Store) QuarantineEvents(ctx context.Context) ([]EventRecord, error) {
	return s.queryEvents(ctx, `SELECT id, terminal, seq, time, kind, severity, data, received_at FROM events
		WHERE `+quarantineKinds+` ORDER BY id`)
}

// LastEventID is the highest event ID given so far (0 before the first event).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT last FROM event_counter`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read last event id: %w", err)
	}
	return n, nil
}

func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]EventRecord, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []EventRecord
	for rows.Next() {
		var e EventRecord
		var seq, at, recv int64
		var data string
		if err := rows.Scan(&e.ID, &e.Terminal, &seq, &at, &e.Kind, &e.Severity, &data, &recv); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.Seq, e.Time, e.ReceivedAt = uint64(seq), time.UnixMilli(at), time.UnixMilli(recv)
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return nil, fmt.Errorf("list events: event %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}
