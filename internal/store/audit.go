package store

import (
	"bytes"
	"context"
	"crypto/hmac"
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
// there on. Its MAC is HMAC-SHA256 of the Hash under the hub's audit key, kept
// outside the database: someone with only the database can recompute every
// hash after an edit, but not the MACs. What neither shows, rows cut off the
// end or a chain rewound to an older copy, the signed heads the hub writes
// elsewhere show (protocol.AuditHead, CheckAuditHeads).
type AuditRecord struct {
	Seq    int64
	Time   time.Time
	Actor  string // "local:root", "hub", "enroll:<remote address>", a staff name
	Action protocol.AuditAction
	Target string
	Detail string // JSON object
	Prev   []byte
	Hash   []byte
	MAC    []byte // nil for rows written before the hub had an audit key
}

// AuditKey keys the audit rows' MACs. From is the first row it covers: the
// rows before it were written before the hub had a key (a database of the
// 2026-11 release) and are only chained.
type AuditKey struct {
	Key  []byte
	From int64
}

// SetAuditKey makes the store MAC every audit row it writes from now on, and
// check the MACs from k.From on in VerifyAudit. Call it before the first write.
func (s *Store) SetAuditKey(k AuditKey) { s.auditKey = &k }

// AuditKeyed says whether the store has an audit key.
func (s *Store) AuditKeyed() bool { return s.auditKey != nil }

func rowMAC(key, hash []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("carrel audit row v1\x00"))
	m.Write(hash)
	return m.Sum(nil)
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

func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, now time.Time, actor string, action protocol.AuditAction, target string, detail map[string]string) error {
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
	var mac []byte
	if s.auditKey != nil {
		mac = rowMAC(s.auditKey.Key, hash)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (seq, time, actor, action, target, detail, prev, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		seq, t, actor, action, target, string(d), prev, hash, mac); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// Audit appends one record to the audit log in its own transaction.
func (s *Store) Audit(ctx context.Context, actor string, action protocol.AuditAction, target string, detail map[string]string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendAudit(ctx, tx, s.now(), actor, action, target, detail)
	})
}

// AuditLog lists audit records with Seq > after, oldest first, at most limit.
func (s *Store) AuditLog(ctx context.Context, after int64, limit int) ([]AuditRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, actor, action, target, detail, prev, hash, mac FROM audit
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var t int64
		if err := rows.Scan(&r.Seq, &t, &r.Actor, &r.Action, &r.Target, &r.Detail, &r.Prev, &r.Hash, &r.MAC); err != nil {
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
// The chain cannot show that rows were cut off its end; a signed head written
// elsewhere (the hub signs this one: pki.CA.SignAuditHead) can.
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
// or a broken link) or inserted. With an audit key it also checks every row's
// MAC from the key's first row on, which shows a row rewritten with its hashes
// recomputed.
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
			if k := s.auditKey; k != nil && r.Seq >= k.From {
				switch {
				case len(r.MAC) == 0:
					return n, &AuditError{Seq: r.Seq, Reason: "no MAC: the row was written or rewritten without the hub's audit key"}
				case !hmac.Equal(r.MAC, rowMAC(k.Key, r.Hash)):
					return n, &AuditError{Seq: r.Seq, Reason: "MAC does not match: the row was rewritten without the hub's audit key"}
				}
			}
			prev = r.Hash
			want++
			n++
		}
	}
}

// CheckAuditHeads checks the chain against signed heads (whose signatures the
// caller has checked): each head's row must be in the chain with the head's
// hash. A head whose row is missing shows rows cut off the end (or a chain
// rewound to an older copy); one whose row has another hash shows a chain
// rewritten at or before that row. The error names the first such head's row.
func (s *Store) CheckAuditHeads(ctx context.Context, heads []protocol.AuditHead) error {
	seq, _, err := s.AuditHead(ctx)
	if err != nil {
		return err
	}
	for _, h := range heads {
		when := h.Time.UTC().Format(time.RFC3339)
		if h.Seq > seq {
			return &AuditError{Seq: seq + 1, Reason: fmt.Sprintf("rows %d to %d are missing: the hub's signed head of %s names row %d (the log was cut short or rewound)", seq+1, h.Seq, when, h.Seq)}
		}
		if h.Seq == 0 {
			continue
		}
		var hash []byte
		if err := s.r.QueryRowContext(ctx, `SELECT hash FROM audit WHERE seq = ?`, h.Seq).Scan(&hash); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return &AuditError{Seq: h.Seq, Reason: fmt.Sprintf("row missing: the hub's signed head of %s names it", when)}
			}
			return fmt.Errorf("check audit heads: %w", err)
		}
		if !bytes.Equal(hash, h.Hash) {
			return &AuditError{Seq: h.Seq, Reason: fmt.Sprintf("hash differs from the hub's signed head of %s: the chain was rewritten at or before this row", when)}
		}
	}
	return nil
}

// AddAuditHeads keeps signed heads in this database: a backup carries the
// head of the chain it was made from, so that a later chain can be checked
// against it (AuditHeads).
func (s *Store) AddAuditHeads(ctx context.Context, heads ...protocol.AuditHead) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, h := range heads {
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_heads (seq, hash, time, sig) VALUES (?, ?, ?, ?)`,
				h.Seq, h.Hash, ms(h.Time), h.Sig); err != nil {
				return fmt.Errorf("add audit head: %w", err)
			}
		}
		return nil
	})
}

// AuditHeads lists the signed heads kept in this database, oldest row first.
func (s *Store) AuditHeads(ctx context.Context) ([]protocol.AuditHead, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, hash, time, sig FROM audit_heads ORDER BY seq, time`)
	if err != nil {
		return nil, fmt.Errorf("read audit heads: %w", err)
	}
	defer rows.Close()
	var out []protocol.AuditHead
	for rows.Next() {
		var h protocol.AuditHead
		var t int64
		if err := rows.Scan(&h.Seq, &h.Hash, &t, &h.Sig); err != nil {
			return nil, fmt.Errorf("read audit heads: %w", err)
		}
		h.Time = time.UnixMilli(t).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}
