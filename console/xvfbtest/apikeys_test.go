package xvfbtest

import (
	"crypto/tls"
	"image"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/hubrig"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestRealWindowAPIKey: an admin in a real console window opens the API tab
// with the mouse, makes a key by typing its name (Return), copies the secret
// with the dialog's Copy button (read back from the X clipboard with xclip),
// and that key reads the real hub's HTTPS API (/api/v1/terminals, 200).
// Then the admin clicks the key's red Revoke… button, confirms, and the API
// refuses the key (401) within its key check. Screenshots: apikey.png,
// apikey-revoked.png.
func TestRealWindowAPIKey(t *testing.T) {
	need(t, "Xvfb", "xdotool", "import", "xclip")
	art := artifacts(t)
	tmp := t.TempDir()
	bin, _, _ := buildBinaries(t)

	r := hubrig.Start(t, hubrig.Options{})
	c := hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	if err := c.SetHub(r.URL(), r.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	ann := r.Setup(t, c, "ann", "correct horse battery")
	c.Close()
	api := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.Hub().CA().Pool()}}}
	get := func(key string) int {
		req, err := http.NewRequest(http.MethodGet, r.URL()+"/api/v1/terminals", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := api.Do(req)
		if err != nil {
			t.Fatalf("GET /api/v1/terminals: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	w := openWindow(t, bin, tmp, r.URL(), r.Fingerprint())
	w.login(filepath.Join(tmp, "login.png"), ann.User, ann.Password, func() string { return ann.Code(t) })

	w.openTab("API")
	testbin.WaitFor(t, 20*time.Second, "the API tab's lists", w.hasState("apikeys:0"))

	// The name field has the keyboard as the tab opens; Return creates.
	w.xdotool("type", "--delay", "30", "entrance screen")
	w.xdotool("key", "Return")
	testbin.WaitFor(t, 20*time.Second, "the key's dialog", w.hasState("apikey:created"))
	shot := filepath.Join(art, "apikey.png")
	w.screenshot(shot)
	w.xdotool("key", "space") // the focused Copy button
	testbin.WaitFor(t, 10*time.Second, "the key copied", w.hasState("secret:copied"))
	var key string
	testbin.WaitFor(t, 10*time.Second, "the key on the X clipboard", func() bool {
		cmd := exec.Command("xclip", "-selection", "clipboard", "-o")
		cmd.Env = w.env
		out, err := cmd.Output()
		key = strings.TrimSpace(string(out))
		return err == nil && strings.HasPrefix(key, protocol.APIKeyPrefix)
	})
	w.xdotool("key", "Return") // Done (focused after Copy)
	testbin.WaitFor(t, 20*time.Second, "the key listed", w.hasState("apikeys:1"))
	if code := get(key); code != http.StatusOK {
		t.Fatalf("the key made in the window: GET answered %d, want 200", code)
	}
	if code := get(key + "0"); code != http.StatusUnauthorized {
		t.Fatalf("a wrong key: %d, want 401", code)
	}

	// Revoke: the only danger-coloured button on the tab is the key's.
	revokedPNG := filepath.Join(art, "apikey-revoked.png")
	var btn image.Rectangle
	testbin.WaitFor(t, 20*time.Second, "the red Revoke… button", func() bool {
		img := w.screenshot(revokedPNG)
		for _, b := range bands(img, danger) {
			if b.Dx() >= 40 && b.Dy() >= 15 {
				btn = b
				return true
			}
		}
		return false
	})
	w.click(middle(btn))
	// The confirmation's Cancel holds the focus; Tab moves it to Revoke.
	testbin.WaitFor(t, 10*time.Second, "the confirmation's red button", func() bool {
		// The list behind the dialog is dimmed: a danger band elsewhere is the dialog's.
		for _, b := range bands(w.screenshot(revokedPNG), danger) {
			if b.Dx() >= 40 && b.Dy() >= 15 && b != btn {
				return true
			}
		}
		return false
	})
	w.xdotool("key", "Tab")
	w.xdotool("key", "space")
	testbin.WaitFor(t, 20*time.Second, "the key revoked in the window", w.hasState("apikey:revoked"))
	testbin.WaitFor(t, 20*time.Second, "the API refusing the revoked key", func() bool { return get(key) == http.StatusUnauthorized })
	w.screenshot(revokedPNG)
	t.Logf("screenshots: %s %s", shot, revokedPNG)
	w.alive()
}
