package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestAPIKeysHashedShownOnceRevocableAudited(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	k, err := s.CreateAPIKey(ctx, "signage", "north", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Key, protocol.APIKeyPrefix) || len(k.Key) != len(protocol.APIKeyPrefix)+64 {
		t.Fatalf("key %q", k.Key)
	}
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM api_keys WHERE instr(hash, ?) > 0 OR name = ?`, k.Key, k.Key).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the key itself is stored (%d, %v)", n, err)
	}
	got, err := s.APIKeyByHash(ctx, HashAPIKey(k.Key))
	if err != nil || got.ID != k.ID || got.Branch != "north" {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if _, err := s.APIKeyByHash(ctx, HashAPIKey(k.Key+"x")); !errors.Is(err, ErrAPIKeyUnknown) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := s.CreateAPIKey(ctx, "bad", "no such/branch!", "admin"); err == nil {
		t.Fatal("invalid branch accepted")
	}
	if _, err := s.RevokeAPIKey(ctx, "signage", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.APIKeyByHash(ctx, HashAPIKey(k.Key)); !errors.Is(err, ErrAPIKeyUnknown) {
		t.Fatalf("revoked key still valid: %v", err)
	}
	rev, err := s.RevokedAPIKeys(ctx, []string{k.ID})
	if err != nil || !rev[k.ID] {
		t.Fatalf("revoked set %v %v", rev, err)
	}
	if _, err := s.RevokeAPIKey(ctx, k.ID, "admin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	log, err := s.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range log {
		actions = append(actions, string(r.Action))
		if strings.Contains(r.Detail, k.Key) {
			t.Fatal("audit holds the key")
		}
	}
	if j := strings.Join(actions, ","); !strings.Contains(j, "apikey.create") || !strings.Contains(j, "apikey.revoke") {
		t.Fatalf("audit: %s", j)
	}
}

func TestWebhooksStoredAndTallied(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for _, bad := range []string{"ftp://x/", "https://", "https://u:p@host/", "::"} {
		if _, err := s.CreateWebhook(ctx, bad, []byte("0123456789abcdef"), "", "admin"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := s.CreateWebhook(ctx, "https://example.org/hook", []byte("short"), "", "admin"); err == nil {
		t.Error("short secret accepted")
	}
	w, err := s.CreateWebhook(ctx, "https://example.org/hook", []byte("0123456789abcdef"), "", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddWebhookTallies(ctx, map[string]WebhookTally{w.ID: {Delivered: 3, Dead: 2, LastError: "500"}}); err != nil {
		t.Fatal(err)
	}
	ws, err := s.Webhooks(ctx)
	if err != nil || len(ws) != 1 || ws[0].Dead != 2 || ws[0].Delivered != 3 || ws[0].LastError != "500" || string(ws[0].Secret) != "0123456789abcdef" {
		t.Fatalf("%+v %v", ws, err)
	}
	if err := s.DeleteWebhook(ctx, w.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if ws, _ := s.Webhooks(ctx); len(ws) != 0 {
		t.Fatal("deleted webhook listed")
	}
}

func TestDeletedWebhookSecretErased(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	w, err := s.CreateWebhook(ctx, "https://example.org/hook", []byte("0123456789abcdef"), "", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(ctx, w.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.r.QueryRow(`SELECT length(secret) FROM webhooks WHERE id = ?`, w.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("secret of a removed webhook: %d bytes (%v)", n, err)
	}
}
