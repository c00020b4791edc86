package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// CreateToken stores an enrollment token's hash with its expiry and number of
// uses, and audits it. PCs that enroll with it land in no branch.
func (s *Store) CreateToken(ctx context.Context, hash [32]byte, uses int, expires time.Time, actor string) error {
	return s.CreateBranchToken(ctx, hash, uses, expires, "", actor)
}

// CreateBranchToken is CreateToken for a token whose PCs land in branch.
func (s *Store) CreateBranchToken(ctx context.Context, hash [32]byte, uses int, expires time.Time, branch, actor string) error {
	if uses < 1 {
		return fmt.Errorf("create token: uses must be at least 1, not %d", uses)
	}
	if err := protocol.ValidBranch(branch); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, created_at, expires_at, uses_left, created_by, branch) VALUES (?, ?, ?, ?, ?, ?)`,
			hash[:], ms(now), ms(expires), uses, actor, branch); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyUses: fmt.Sprint(uses), protocol.AuditKeyExpires: expires.UTC().Format(time.RFC3339)}
		if branch != "" {
			detail[protocol.AuditKeyBranch] = branch
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditTokenCreate, fmt.Sprintf("%x", hash[:4]), detail)
	})
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// RedeemToken uses one use of the token with this hash, atomically: the expiry
// check and the decrement are in one transaction. It fails with ErrTokenUnknown,
// ErrTokenExpired, or a *TokenUsedError (ErrTokenUsedUp).
func (s *Store) RedeemToken(ctx context.Context, hash [32]byte) error {
	_, err := s.RedeemBranchToken(ctx, hash)
	return err
}

// RedeemBranchToken is RedeemToken that also says which branch the token's PCs
// land in ("" for none).
func (s *Store) RedeemBranchToken(ctx context.Context, hash [32]byte) (branch string, err error) {
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var stored []byte
		var expires int64
		var left, uses int
		err := tx.QueryRowContext(ctx, `SELECT hash, expires_at, uses_left, uses, branch FROM tokens WHERE hash = ?`, hash[:]).
			Scan(&stored, &expires, &left, &uses, &branch)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(stored, hash[:]) != 1) {
			return ErrTokenUnknown
		}
		if err != nil {
			return fmt.Errorf("redeem token: %w", err)
		}
		if left <= 0 {
			return &TokenUsedError{Uses: uses}
		}
		if ms(now) >= expires {
			return fmt.Errorf("%w at %s", ErrTokenExpired, time.UnixMilli(expires).UTC().Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET uses_left = uses_left - 1, uses = uses + 1 WHERE hash = ?`, hash[:]); err != nil {
			return fmt.Errorf("redeem token: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return branch, nil
}
