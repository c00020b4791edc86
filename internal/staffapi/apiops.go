package staffapi

import (
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The API's keys and webhooks (internal/api), admin only. The store audits
// each change; the running API sees them at its next key check or webhook
// reload (seconds), as it does the CLI's.

func opAPIKeyCreate(x *staffCall) (any, error) {
	var a protocol.APIKeyArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	return x.srv.store.CreateAPIKey(x.c.ctx, a.Name, a.Branch, x.actor)
}

func opAPIKeyList(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	keys, err := x.srv.store.APIKeys(x.c.ctx)
	if keys == nil {
		keys = []protocol.APIKeyView{}
	}
	return keys, err
}

func opAPIKeyRevoke(x *staffCall) (any, error) {
	var a protocol.APIKeyRevokeArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin(a.Key, nil); err != nil {
		return nil, err
	}
	return x.srv.store.RevokeAPIKey(x.c.ctx, a.Key, x.actor)
}

func opWebhookCreate(x *staffCall) (any, error) {
	var a protocol.WebhookArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	return x.srv.store.CreateWebhook(x.c.ctx, a.URL, []byte(a.Secret), a.Branch, x.actor)
}

func opWebhookList(x *staffCall) (any, error) {
	if err := x.args(&struct{}{}); err != nil {
		return nil, err
	}
	if err := x.admin("", nil); err != nil {
		return nil, err
	}
	hooks, err := x.srv.store.Webhooks(x.c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.WebhookView, len(hooks))
	for i, h := range hooks {
		out[i] = h.WebhookView // never the secret
	}
	return out, nil
}

func opWebhookDelete(x *staffCall) (any, error) {
	var a protocol.WebhookDeleteArgs
	if err := x.args(&a); err != nil {
		return nil, err
	}
	if err := x.admin(a.ID, nil); err != nil {
		return nil, err
	}
	return nil, x.srv.store.DeleteWebhook(x.c.ctx, a.ID, x.actor)
}
