package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Command is a staff command as stored.
type Command struct {
	ID         string
	Terminal   string
	Action     string
	Args       map[string]string
	IssuedBy   string
	IssuedAt   time.Time
	ExpiresAt  time.Time
	Result     string // the agent's error or output, or the hub's reason
	OK         bool
	Answered   bool
	AnsweredAt time.Time
}

// AddCommand stores a command about to be sent, with its audit record, in one
// transaction: the audit record exists before the command leaves the hub.
func (s *Store) AddCommand(ctx context.Context, c Command) error {
	args, err := json.Marshal(c.Args)
	if err != nil {
		return fmt.Errorf("add command: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO commands (id, terminal, action, args, issued_by, issued_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Terminal, c.Action, string(args), c.IssuedBy, ms(c.IssuedAt), ms(c.ExpiresAt)); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyID: c.ID, protocol.AuditKeyAction: c.Action}
		for k, v := range c.Args {
			detail[protocol.AuditKeyArgPrefix+k] = v
		}
		return s.appendAudit(ctx, tx, c.IssuedAt, c.IssuedBy, protocol.AuditCommand, c.Terminal, detail)
	})
	if err != nil {
		return fmt.Errorf("add command %s: %w", c.ID, err)
	}
	return nil
}

// FinishCommand stores a command's outcome and audits it.
func (s *Store) FinishCommand(ctx context.Context, id string, ok bool, result string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var terminal, action, by string
		if err := tx.QueryRowContext(ctx, `SELECT terminal, action, issued_by FROM commands WHERE id = ?`, id).Scan(&terminal, &action, &by); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE commands SET result = ?, ok = ?, answered_at = ? WHERE id = ?`, result, ok, ms(now), id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, by, protocol.AuditCommandResult, terminal,
			map[string]string{protocol.AuditKeyID: id, protocol.AuditKeyAction: action, protocol.AuditKeyOK: fmt.Sprint(ok), protocol.AuditKeyResult: result})
	})
	if err != nil {
		return fmt.Errorf("finish command %s: %w", id, err)
	}
	return nil
}

// GetCommand returns a stored command.
func (s *Store) GetCommand(ctx context.Context, id string) (Command, error) {
	var c Command
	var args string
	var issued, expires int64
	var result sql.NullString
	var ok sql.NullBool
	var answered sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, terminal, action, args, issued_by, issued_at, expires_at, result, ok, answered_at
		FROM commands WHERE id = ?`, id).Scan(&c.ID, &c.Terminal, &c.Action, &args, &c.IssuedBy, &issued, &expires, &result, &ok, &answered)
	if err == sql.ErrNoRows {
		return c, fmt.Errorf("command %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("get command %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(args), &c.Args); err != nil {
		return c, fmt.Errorf("get command %s: %w", id, err)
	}
	c.IssuedAt, c.ExpiresAt = time.UnixMilli(issued), time.UnixMilli(expires)
	c.Result, c.OK, c.Answered, c.AnsweredAt = result.String, ok.Bool, answered.Valid, fromMS(answered)
	return c, nil
}
