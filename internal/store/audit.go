package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// AuditRecord is one row of the append-only audit log. Each row's Hash is
// SHA-256(Prev ‖ canonical row), Prev being the previous row's Hash (32 zero bytes
// for the first), so changing, removing or reordering a row breaks the chain from
// there on.
type AuditRecord struct {
	Seq    int64
	Time   time.Time
	Actor  string // "local:root", "hub", "enroll:<remote address>", a staff name
	Action protocol.AuditAction
	Target string
	Detail string // JSON object
	Prev   []byte
	Hash   []byte
}

// ErrAuditBroken is what VerifyAudit's *AuditError matches.
var ErrAuditBroken = errors.New("audit chain broken")

// AuditError names the first audit row that does not verify.
type AuditError struct {
	Seq    int64
	Reason string
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("audit chain broken at row %d: %s", e.Seq, e.Reason)
}

func (e *AuditError) Is(target error) bool { return target == ErrAuditBroken }

// canonical is the byte string a row's hash covers: a JSON array of the row's
// fields in a fixed order (encoding/json is deterministic for it).
func canonical(seq int64, t int64, actor, action, target, detail string) []byte {
	b, _ := json.Marshal([]any{seq, t, actor, action, target, detail})
	return b
}

func chain(prev, row []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(row)
	return h.Sum(nil)
}

func appendAudit(ctx context.Context, tx *sql.Tx, now time.Time, actor string, action protocol.AuditAction, target string, detail map[string]string) error {
	d := []byte("{}")
	if len(detail) > 0 {
		var err error
		if d, err = json.Marshal(detail); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
	}
	var seq int64
	prev := make([]byte, sha256.Size)
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("append audit: %w", err)
	}
	seq++
	t := ms(now)
	hash := chain(prev, canonical(seq, t, actor, string(action), target, string(d)))
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (seq, time, actor, action, target, detail, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		seq, t, actor, action, target, string(d), prev, hash); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// Audit appends one record to the audit log in its own transaction.
func (s *Store) Audit(ctx context.Context, actor string, action protocol.AuditAction, target string, detail map[string]string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return appendAudit(ctx, tx, s.now(), actor, action, target, detail)
	})
}

// AuditLog lists audit records with Seq > after, oldest first, at most limit.
func (s *Store) AuditLog(ctx context.Context, after int64, limit int) ([]AuditRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, actor, action, target, detail, prev, hash FROM audit
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var t int64
		if err := rows.Scan(&r.Seq, &t, &r.Actor, &r.Action, &r.Target, &r.Detail, &r.Prev, &r.Hash); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		r.Time = time.UnixMilli(t)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

// AuditHead is the last audit row's seq and hash (0 and nil for an empty log).
// The chain cannot show that rows were cut off its end; a head recorded elsewhere
// (printed by 'carrel-hub audit verify') can.
func (s *Store) AuditHead(ctx context.Context) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read audit head: %w", err)
	}
	return seq, hash, nil
}

// VerifyAudit walks the whole audit chain and returns the number of rows checked,
// or an *AuditError naming the first row that was changed, removed (a gap in seq
// or a broken link) or inserted.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	prev := make([]byte, sha256.Size)
	var want int64 = 1
	n := 0
	for {
		rows, err := s.AuditLog(ctx, want-1, 1000)
		if err != nil {
			return n, err
		}
		if len(rows) == 0 {
			return n, nil
		}
		for _, r := range rows {
			if r.Seq != want {
				return n, &AuditError{Seq: want, Reason: fmt.Sprintf("row missing (next row is %d)", r.Seq)}
			}
			if !bytes.Equal(r.Prev, prev) {
				return n, &AuditError{Seq: r.Seq, Reason: "link to the previous row does not match"}
			}
			h := chain(prev, canonical(r.Seq, r.Time.UnixMilli(), r.Actor, string(r.Action), r.Target, r.Detail))
			if !bytes.Equal(h, r.Hash) {
				return n, &AuditError{Seq: r.Seq, Reason: "contents do not match the hash"}
			}
			prev = r.Hash
			want++
			n++
		}
	}
}
