package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// API keys and webhook targets of the read-only API (internal/api). A key is
// 32 random bytes, hex, after protocol.APIKeyPrefix; the store keeps only its
// SHA-256 (a key has 256 bits of entropy: a slow hash adds nothing), so it is
// shown once, when made. A webhook's secret must be kept as given: the hub
// signs with it.

// ErrAPIKeyUnknown: no key has that secret, or it was revoked.
var ErrAPIKeyUnknown = errors.New("unknown or revoked API key")

// APIKey is a stored API key (never its secret).
type APIKey = protocol.APIKeyView

// HashAPIKey is what the store keeps of a key.
func HashAPIKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

func newID(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// CreateAPIKey makes a read-only key named name, for branch ("" for every
// branch), and audits it. The returned Key is the only copy.
func (s *Store) CreateAPIKey(ctx context.Context, name, branch, actor string) (protocol.APIKeyCreated, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || protocol.Printable(name) != name {
		return protocol.APIKeyCreated{}, errors.New("create API key: a name (1 to 100 printable characters) is required")
	}
	if err := protocol.ValidBranch(branch); err != nil {
		return protocol.APIKeyCreated{}, fmt.Errorf("create API key: %w", err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	key := protocol.APIKeyPrefix + hex.EncodeToString(secret)
	hash := HashAPIKey(key)
	now := s.now()
	out := protocol.APIKeyCreated{Key: key, APIKeyView: protocol.APIKeyView{ID: newID("k-"), Name: name, Branch: branch,
		CreatedAt: time.UnixMilli(ms(now)).UTC(), CreatedBy: actor}}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, hash, name, branch, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
			out.ID, hash[:], name, branch, ms(now), actor); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyName: name}
		if branch != "" {
			detail[protocol.AuditKeyBranch] = branch
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditAPIKeyCreate, out.ID, detail)
	})
	if err != nil {
		return protocol.APIKeyCreated{}, fmt.Errorf("create API key: %w", err)
	}
	return out, nil
}

const apiKeyCols = `id, name, branch, created_at, created_by, revoked_at, last_used`

func scanAPIKey(sc interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var created int64
	var revoked, used sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &k.Branch, &created, &k.CreatedBy, &revoked, &used); err != nil {
		return k, err
	}
	k.CreatedAt = time.UnixMilli(created).UTC()
	k.RevokedAt, k.LastUsed = fromMS(revoked), fromMS(used)
	if !k.RevokedAt.IsZero() {
		k.RevokedAt = k.RevokedAt.UTC()
	}
	if !k.LastUsed.IsZero() {
		k.LastUsed = k.LastUsed.UTC()
	}
	return k, nil
}

// APIKeyByHash is the live (not revoked) key with this hash, or ErrAPIKeyUnknown.
func (s *Store) APIKeyByHash(ctx context.Context, hash [32]byte) (APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = ? AND revoked_at IS NULL`, hash[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return k, ErrAPIKeyUnknown
	}
	if err != nil {
		return k, fmt.Errorf("look up API key: %w", err)
	}
	return k, nil
}

// APIKeys lists every key, revoked ones too, oldest first.
func (s *Store) APIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list API keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokedAPIKeys is the set of IDs among ids that are revoked or gone.
func (s *Store) RevokedAPIKeys(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	live := map[string]bool{}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM api_keys WHERE revoked_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("check API keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("check API keys: %w", err)
		}
		live[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check API keys: %w", err)
	}
	for _, id := range ids {
		if !live[id] {
			out[id] = true
		}
	}
	return out, nil
}

// RevokeAPIKey revokes the key with this ID (or name, when one key has it)
// and audits it. A running hub closes the key's feeds within its key check
// period (api.Config.KeyCheck).
func (s *Store) RevokeAPIKey(ctx context.Context, idOrName, actor string) (APIKey, error) {
	now := s.now()
	var k APIKey
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE (id = ? OR name = ?) AND revoked_at IS NULL`, idOrName, idOrName)
		if err != nil {
			return err
		}
		var found []APIKey
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				rows.Close()
				return err
			}
			found = append(found, k)
		}
		rows.Close()
		switch {
		case len(found) == 0:
			return fmt.Errorf("%w: no live API key %q", ErrNotFound, idOrName)
		case len(found) > 1:
			return fmt.Errorf("%d live API keys are named %q: revoke one by its ID", len(found), idOrName)
		}
		k = found[0]
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ?`, ms(now), k.ID); err != nil {
			return err
		}
		k.RevokedAt = time.UnixMilli(ms(now)).UTC()
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditAPIKeyRevoke, k.ID, map[string]string{protocol.AuditKeyName: k.Name})
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke API key: %w", err)
	}
	return k, nil
}

// TouchAPIKeys records when keys were last used (at most once a minute per
// key, by the API); a failure only costs the record.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for id, t := range used {
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used = ? WHERE id = ?`, ms(t), id); err != nil {
				return fmt.Errorf("touch API keys: %w", err)
			}
		}
		return nil
	})
}

// Webhook is a webhook target with its secret, for the hub's deliveries.
type Webhook struct {
	protocol.WebhookView
	Secret []byte
}

// ValidWebhookURL checks a target: http or https, a host, no credentials in it.
func ValidWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("webhook URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("webhook URL %q: must be https:// (or http://)", protocol.Clip(raw, 80))
	}
	if u.Host == "" {
		return fmt.Errorf("webhook URL %q: has no host", protocol.Clip(raw, 80))
	}
	if u.User != nil {
		return errors.New("webhook URL: must not carry a user or password (the secret signs the requests)")
	}
	if len(raw) > 2000 {
		return errors.New("webhook URL: longer than 2000 characters")
	}
	return nil
}

// CreateWebhook registers a target for the events of branch ("" for every
// branch), signed with secret (at least 16 bytes), and audits it (never the
// secret).
func (s *Store) CreateWebhook(ctx context.Context, rawURL string, secret []byte, branch, actor string) (protocol.WebhookView, error) {
	if err := ValidWebhookURL(rawURL); err != nil {
		return protocol.WebhookView{}, fmt.Errorf("create webhook: %w", err)
	}
	if len(secret) < 16 {
		return protocol.WebhookView{}, errors.New("create webhook: the secret must be at least 16 bytes")
	}
	if err := protocol.ValidBranch(branch); err != nil {
		return protocol.WebhookView{}, fmt.Errorf("create webhook: %w", err)
	}
	now := s.now()
	w := protocol.WebhookView{ID: newID("w-"), URL: rawURL, Branch: branch, CreatedAt: time.UnixMilli(ms(now)).UTC(), CreatedBy: actor}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhooks (id, url, secret, branch, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`,
			w.ID, rawURL, secret, branch, ms(now), actor); err != nil {
			return err
		}
		detail := map[string]string{protocol.AuditKeyURL: rawURL}
		if branch != "" {
			detail[protocol.AuditKeyBranch] = branch
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditWebhookCreate, w.ID, detail)
	})
	if err != nil {
		return protocol.WebhookView{}, fmt.Errorf("create webhook: %w", err)
	}
	return w, nil
}

// Webhooks lists the registered (not deleted) targets with their secrets.
func (s *Store) Webhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, url, secret, branch, created_at, created_by, delivered, dead, last_error
		FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		var w Webhook
		var created int64
		if err := rows.Scan(&w.ID, &w.URL, &w.Secret, &w.Branch, &created, &w.CreatedBy, &w.Delivered, &w.Dead, &w.LastError); err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		w.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook removes a target (its row stays, marked, its secret erased)
// and audits it.
func (s *Store) DeleteWebhook(ctx context.Context, id, actor string) error {
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var u string
		err := tx.QueryRowContext(ctx, `SELECT url FROM webhooks WHERE id = ? AND deleted_at IS NULL`, id).Scan(&u)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET deleted_at = ?, secret = X'' WHERE id = ?`, ms(now), id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, actor, protocol.AuditWebhookDelete, id, map[string]string{protocol.AuditKeyURL: u})
	})
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	return nil
}

// WebhookTally is what deliveries to one target came to since the last tally.
type WebhookTally struct {
	Delivered, Dead int64
	LastError       string // "" keeps the one stored
}

// AddWebhookTallies adds delivery counts to the targets' stored ones.
func (s *Store) AddWebhookTallies(ctx context.Context, t map[string]WebhookTally) error {
	if len(t) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for id, v := range t {
			if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET delivered = delivered + ?, dead = dead + ?,
				last_error = CASE WHEN ? = '' THEN last_error ELSE ? END WHERE id = ?`, v.Delivered, v.Dead, v.LastError, v.LastError, id); err != nil {
				return fmt.Errorf("record webhook deliveries: %w", err)
			}
		}
		return nil
	})
}

// CheckWritable takes the write lock and writes (a no-op update of the schema
// version) in a transaction, for the API's /readyz.
func (s *Store) CheckWritable(ctx context.Context) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = version`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store not writable: %w", err)
	}
	return nil
}
