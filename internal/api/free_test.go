package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// chromium finds the browser, or skips the test on a machine without one
// unless CARREL_XVFB is set (CI sets it: there the test must run).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CARREL_XVFB") == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/deps does); CI sets CARREL_XVFB=1 and fails here")
	}
	t.Fatal("chromium is not installed, and CARREL_XVFB is set: .ci/deps must install it")
	return ""
}

// cdp is a minimal Chrome DevTools Protocol client over the page's websocket.
type cdp struct {
	t  *testing.T
	ws *websocket.Conn
	id int
}

func (c *cdp) call(method string, params any, out any) {
	c.t.Helper()
	c.id++
	if err := c.ws.WriteJSON(map[string]any{"id": c.id, "method": method, "params": params}); err != nil {
		c.t.Fatal(err)
	}
	c.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct{ Message string }
		}
		if err := c.ws.ReadJSON(&m); err != nil {
			c.t.Fatal(err)
		}
		if m.ID != c.id {
			continue // an event
		}
		if m.Error != nil {
			c.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		if out != nil {
			json.Unmarshal(m.Result, out)
		}
		return
	}
}

func (c *cdp) eval(expr string) string {
	c.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
	}
	c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	return fmt.Sprint(r.Result.Value)
}

func (c *cdp) waitText(t *testing.T, expr, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if got = c.eval(expr); got == want {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the browser: there is nothing to wait on
	}
	t.Fatalf("%s = %q, want %q", expr, got, want)
}

// TestFreePCsPageInChromium loads /free in a real headless Chromium over the
// hub's TLS, checks the free count per branch, changes a PC's state through
// the API's feed and checks the page follows, and that a PC name that looks
// like HTML is shown as text.
func TestFreePCsPageInChromium(t *testing.T) {
	bin := chromium(t)
	r := newRig(t, Config{})
	r.hub.set("t-9", `<img src=x onerror="document.title='owned'">`, "south", protocol.SessionFree)

	profile := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	page := r.srv.URL + PathFree + "?key=" + r.admin.Key
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
		"--ignore-certificate-errors", "--window-size=1280,800", "--remote-debugging-port=0", page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	var port string
	waitFor(t, "chromium's DevTools port", func() bool {
		b, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		if err != nil {
			return false
		}
		port, _, _ = strings.Cut(string(b), "\n")
		return port != ""
	})
	var wsURL string
	waitFor(t, "the page's target", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var targets []struct{ Type, URL, WebSocketDebuggerURL string }
		json.NewDecoder(resp.Body).Decode(&targets)
		for _, tg := range targets {
			if tg.Type == "page" && strings.Contains(tg.URL, PathFree) {
				wsURL = tg.WebSocketDebuggerURL
				return true
			}
		}
		return false
	})
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("devtools: %v (%s)", err, stderr.String())
	}
	defer ws.Close()
	c := &cdp{t: t, ws: ws}

	north := `(document.querySelector('[data-branch="north"] .count')||{}).textContent`
	south := `(document.querySelector('[data-branch="south"] .count')||{}).textContent`
	c.waitText(t, north, "1 free of 2")
	c.waitText(t, south, "2 free of 2")

	// north-2 is freed: the page follows the feed.
	r.hub.set("t-2", "north-2", "north", protocol.SessionFree)
	r.api.Changed("t-2")
	c.waitText(t, north, "2 free of 2")
	// and south-1 taken.
	r.hub.set("t-3", "south-1", "south", protocol.SessionInUse)
	r.api.Changed("t-3")
	c.waitText(t, south, "1 free of 2")
	c.waitText(t, `Array.from(document.querySelectorAll('[data-branch="north"] li')).map(e => e.textContent).join(",")`, "north-1,north-2")

	// The name that looks like HTML is text: no image, no script ran.
	if got := c.eval(`document.querySelectorAll("img").length`); got != "0" {
		t.Fatalf("%s images on the page", got)
	}
	if got := c.eval(`document.title`); got != "Free PCs" {
		t.Fatalf("title %q: the name ran as HTML", got)
	}
	c.waitText(t, `document.querySelector('[data-branch="south"] li').textContent`, `<img src=x onerror="document.title='owned'">`)

	var shot struct{ Data string }
	c.call("Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(t.TempDir(), "free.png")
	if dir := os.Getenv("CARREL_ARTIFACTS"); dir != "" {
		out = filepath.Join(dir, "free-pcs.png")
	}
	os.WriteFile(out, png, 0o644)
	t.Logf("screenshot %s (%d bytes)", out, len(png))
}
