package main

import (
	"bufio"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
)

// TestAPIKeyAndWebhookCommands: keys made by the CLI read the running hub's
// API; one revoked by the CLI (which writes the store, not the hub) has its
// open feed closed by the hub within seconds; webhooks are added, listed with
// their counts, and removed.
func TestAPIKeyAndWebhookCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
	ctx, cancel := context.WithCancel(context.Background())
	serveOut, serveErr := &syncBuffer{}, &syncBuffer{}
	served := make(chan int, 1)
	go func() {
		served <- dispatch(ctx, []string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--name", "hub.test"}, serveOut, serveErr)
	}()
	defer func() {
		cancel()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	addrRE := regexp.MustCompile(`listening on (\S+)\nCA fingerprint: ([0-9a-f]{64})`)
	waitFor(t, 10*time.Second, "serve to print its address", func() bool { return addrRE.MatchString(serveOut.String()) })
	m := addrRE.FindStringSubmatch(serveOut.String())
	pin, _ := pki.ParseFingerprint(m[2])
	cli := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.PinnedTLSConfig(pin, "127.0.0.1")}}
	base := "https://" + m[1]

	if code, _, errs := run(t, "apikey", "create", "--data", data); code != 2 || !strings.Contains(errs, "--name") {
		t.Fatalf("create without --name: %d %s", code, errs)
	}
	if code, _, errs := run(t, "apikey", "create", "--data", data, "--name", "x", "--branch", " bad "); code != 2 {
		t.Fatalf("bad branch: %d %s", code, errs)
	}
	code, out, errs := run(t, "apikey", "create", "--data", data, "--name", "entrance", "--branch", "north")
	if code != 0 {
		t.Fatalf("apikey create: %d %s", code, errs)
	}
	key := regexp.MustCompile(`carrel_[0-9a-f]{64}`).FindString(out)
	if key == "" || !strings.Contains(out, "branch north") {
		t.Fatalf("apikey create printed %q", out)
	}
	get := func(path string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := cli.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get("/api/v1/terminals"); resp.StatusCode != 200 {
		t.Fatalf("terminals with the new key: %s", resp.Status)
	} else {
		resp.Body.Close()
	}
	if resp := get("/api/v1/terminals?branch=south"); resp.StatusCode != 403 {
		t.Fatalf("another branch: %s", resp.Status)
	} else {
		resp.Body.Close()
	}
	feed := get("/api/v1/feed")
	defer feed.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(feed.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if code, out, errs := run(t, "apikey", "revoke", "--data", data, "entrance"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %s %s", code, out, errs)
	}
	revoked := time.Now()
	sawDropped := false
	for l := range lines {
		sawDropped = sawDropped || strings.Contains(l, `"reason":"key revoked"`)
	}
	if !sawDropped || time.Since(revoked) > 5*time.Second {
		t.Fatalf("feed of the revoked key: dropped %v after %v", sawDropped, time.Since(revoked))
	}
	if code, out, _ := run(t, "apikey", "list", "--data", data); code != 0 || !strings.Contains(out, "entrance") || strings.Contains(out, key) {
		t.Fatalf("list: %d %q", code, out)
	}

	if code, _, errs := run(t, "webhook", "add", "--data", data, "--url", "ftp://x"); code != 1 || !strings.Contains(errs, "https") {
		t.Fatalf("bad URL: %d %s", code, errs)
	}
	code, out, errs = run(t, "webhook", "add", "--data", data, "--url", "https://example.org/carrel")
	if code != 0 || !regexp.MustCompile(`[0-9a-f]{64}`).MatchString(out) {
		t.Fatalf("webhook add: %d %q %s", code, out, errs)
	}
	id := regexp.MustCompile(`webhook (w-[0-9a-f]+)`).FindStringSubmatch(out)[1]
	if code, out, _ := run(t, "webhook", "list", "--data", data); code != 0 || !strings.Contains(out, "https://example.org/carrel") || !strings.Contains(out, "DEAD") {
		t.Fatalf("webhook list: %q", out)
	}
	if code, _, errs := run(t, "webhook", "remove", "--data", data, id); code != 0 {
		t.Fatalf("remove: %s", errs)
	}
	if code, out, _ := run(t, "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("audit verify after the API rows: %s", out)
	}
}
