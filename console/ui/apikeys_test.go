package ui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The API tab (admin): a key made with a branch scope shows its secret once
// in a dialog whose Copy button puts it on the clipboard, with the warning
// that it is not shown again; the list names the key, its scope and state;
// revoking asks first (Cancel sends nothing). Webhooks: an http:// URL is
// refused before anything is asked, an https one is added with a secret the
// console makes (shown once), the list shows the delivered and dead-lettered
// counts, and deleting asks first. A name with a control character is shown
// as its escape.
func TestAPIView(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	h.hub.hooks = []protocol.WebhookView{{ID: "w-0", URL: "https://signage.example/hook\u202e", Delivered: 41, Dead: 3, LastError: "answered 500 Internal Server Error"}}
	h.hub.apiKeys = []protocol.APIKeyView{{ID: "k-0", Name: "old\x1b[31m", CreatedAt: time.Unix(1.6e9, 0), CreatedBy: "staff:ann"}}
	h.login("ann")
	h.ui.tabs.SelectIndex(slices.Index(h.ui.TabNames(), "API"))
	v := h.ui.admin.api
	h.wait("the lists", func() bool { return len(v.keys) == 1 && len(v.hooks) == 1 })
	h.drain()
	all := strings.Join(labelTexts(v.content), "\n")
	for _, want := range []string{`old\x1b[31m — all branches`, `https://signage.example/hook\u202e — all branches — 41 delivered, 3 dead-lettered — last failure: answered 500`} {
		if !strings.Contains(all, want) {
			t.Errorf("the API tab does not show %q:\n%s", want, all)
		}
	}
	if strings.ContainsAny(all, "\x1b\u202e") {
		t.Error("a control character reached a label unescaped")
	}

	// A key without a name is refused in the console.
	test.Tap(v.create)
	if v.keyState.Text == "" || len(h.hub.apiKeys) != 1 {
		t.Fatalf("an empty name: %q, %d keys", v.keyState.Text, len(h.hub.apiKeys))
	}
	test.Type(v.name, "entrance screen")
	test.Type(v.branch, "Main")
	test.Tap(v.create)
	h.wait("the secret dialog", func() bool { return h.win.Canvas().Overlays().Top() != nil })
	top := h.win.Canvas().Overlays().Top()
	texts := strings.Join(labelTexts(top), "\n")
	const key = protocol.APIKeyPrefix + "secret-k-2"
	if !strings.Contains(texts, key) || !strings.Contains(texts, "shown only this once") {
		t.Fatalf("the dialog says:\n%s", texts)
	}
	test.Tap(h.button(top, "Copy"))
	if got := h.app.Clipboard().Content(); got != key {
		t.Fatalf("clipboard %q, want the key", got)
	}
	test.Tap(h.button(top, "Done"))
	h.wait("the new key listed", func() bool { return len(v.keys) == 2 })
	h.drain()
	if !strings.Contains(strings.Join(labelTexts(v.content), "\n"), "entrance screen — branch Main — created") {
		t.Fatalf("the list: %q", labelTexts(v.content))
	}
	for _, s := range labelTexts(v.content) {
		if strings.Contains(s, key) {
			t.Fatal("the key's secret is still on the screen after the dialog")
		}
	}

	// Revoke: Cancel first sends nothing; then the red button revokes.
	revoke := func() *testing.T {
		for _, o := range objects(v.keyList) {
			if b := asButton(o); b != nil && b.Text == "Revoke…" && !b.Disabled() {
				test.Tap(b)
				return t
			}
		}
		t.Fatal("no live Revoke… button")
		return nil
	}
	revoke()
	test.Tap(h.button(h.win.Canvas().Overlays().Top(), "Cancel"))
	h.drain()
	for _, k := range h.hub.apiKeys {
		if !k.RevokedAt.IsZero() {
			t.Fatal("Cancel revoked a key")
		}
	}
	revoke()
	top = h.win.Canvas().Overlays().Top()
	if !strings.Contains(strings.Join(labelTexts(top), "\n"), "Revoke the key") {
		t.Fatalf("the confirmation says %q", labelTexts(top))
	}
	test.Tap(h.button(top, "Revoke "+shown(v.keys[0].Name)))
	h.wait("the key revoked", func() bool { return strings.HasPrefix(v.keyState.Text, "Revoked") })
	h.wait("the list reloaded", func() bool { return !v.keys[0].RevokedAt.IsZero() })

	// Webhooks: http:// refused; https added with a made secret, shown once.
	test.Type(v.hookURL, "http://signage.example/hook")
	test.Tap(v.add)
	if !strings.Contains(v.hookState.Text, "https://") || len(h.hub.hookArgs) != 0 {
		t.Fatalf("an http URL: %q, %d sent", v.hookState.Text, len(h.hub.hookArgs))
	}
	v.hookURL.SetText("https://queue.example/carrel")
	test.Type(v.hookBranch, "Main")
	test.Tap(v.add)
	h.wait("the webhook's secret dialog", func() bool { return h.win.Canvas().Overlays().Top() != nil })
	h.hub.mu.Lock()
	sent := h.hub.hookArgs[0]
	h.hub.mu.Unlock()
	if sent.URL != "https://queue.example/carrel" || sent.Branch != "Main" || len(sent.Secret) != 64 {
		t.Fatalf("sent %+v", sent)
	}
	if !strings.Contains(strings.Join(labelTexts(h.win.Canvas().Overlays().Top()), "\n"), sent.Secret) {
		t.Fatal("the made secret is not shown")
	}
	test.Tap(h.button(h.win.Canvas().Overlays().Top(), "Done"))
	h.wait("two webhooks", func() bool { return len(v.hooks) == 2 })
	// A secret typed is sent as typed and not shown again.
	v.hookURL.SetText("https://other.example/")
	v.hookSecret.SetText("short")
	test.Tap(v.add)
	if !strings.Contains(v.hookState.Text, "16") {
		t.Fatalf("a short secret: %q", v.hookState.Text)
	}

	// Delete the first: asks, then deletes.
	h.drain()
	var del bool
	for _, o := range objects(v.hookList) {
		if b := asButton(o); b != nil && b.Text == "Delete…" {
			test.Tap(b)
			del = true
			break
		}
	}
	if !del {
		t.Fatal("no Delete… button")
	}
	test.Tap(h.button(h.win.Canvas().Overlays().Top(), "Delete webhook"))
	h.wait("one webhook left", func() bool { return len(v.hooks) == 1 })
}

// A desk member has no API tab; were the hub to refuse an admin's ops
// anyway, the refusal is shown as it comes.
func TestAPIViewRefusal(t *testing.T) {
	desk := newHarness(t, protocol.RoleDesk)
	desk.login("bob")
	if slices.Contains(desk.ui.TabNames(), "API") || desk.ui.admin.api != nil {
		t.Fatalf("a desk member sees %v", desk.ui.TabNames())
	}

	h := newHarness(t, protocol.RoleAdmin)
	h.hub.apiErr = errors.New("admin role required")
	h.login("ann")
	v := h.ui.admin.api
	h.wait("the refusal", func() bool { return strings.Contains(v.keyState.Text, "admin role required") })
	test.Type(v.name, "x")
	test.Tap(v.create)
	h.wait("the create refusal", func() bool { return v.keyState.Text == "Could not create the key: admin role required" })
	if h.win.Canvas().Overlays().Top() != nil {
		t.Fatal("a refused key opened a dialog")
	}
}
