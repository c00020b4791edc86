package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
)

func withStdin(t *testing.T, s string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = old })
}

// TestAdminCreateThenLogin runs serve, checks it printed the setup code, makes
// the first admin from the shell (which closes setup), logs in with it over
// HTTPS with the password and a TOTP code, and lists the accounts.
func TestAdminCreateThenLogin(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
	if code, _, errs := run(t, "admin", "create", "--data", data, "--user", "ann", "--role", "admin", "--password-stdin"); code != 1 ||
		!strings.Contains(errs, "run 'carrel-hub serve' first") {
		t.Fatalf("admin create before serve: %d %q", code, errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	serveOut, serveErr := &syncBuffer{}, &syncBuffer{}
	served := make(chan int, 1)
	go func() {
		served <- dispatch(ctx, []string{"serve", "--data", data, "--listen", "127.0.0.1:0"}, serveOut, serveErr)
	}()
	defer func() {
		cancel()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, serveErr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	re := regexp.MustCompile(`listening on (\S+)\nCA fingerprint: ([0-9a-f]{64})\nNo staff account yet. First-run setup code: ([A-Z2-7]{32})\n`)
	waitFor(t, 20*time.Second, "serve to print the setup code", func() bool { return re.MatchString(serveOut.String()) })
	m := re.FindStringSubmatch(serveOut.String())
	addr, fp, setupCode := m[1], m[2], m[3]
	b, err := os.ReadFile(filepath.Join(data, staffapi.SetupCodeFile))
	if err != nil || strings.TrimSpace(string(b)) != setupCode {
		t.Fatalf("setup code file: %q %v", b, err)
	}

	withStdin(t, "short\n")
	if code, _, errs := run(t, "admin", "create", "--data", data, "--user", "ann", "--role", "admin", "--password-stdin"); code != 1 || !strings.Contains(errs, "password must be") {
		t.Fatalf("short password: %d %q", code, errs)
	}
	withStdin(t, "")
	if code, _, errs := run(t, "admin", "create", "--data", data, "--user", "ann", "--role", "admin"); code != 1 || !strings.Contains(errs, "--password-stdin") {
		t.Fatalf("no terminal, no --password-stdin: %d %q", code, errs)
	}
	if code, _, _ := run(t, "admin", "create", "--data", data, "--user", "ann", "--role", "root"); code != 2 {
		t.Fatalf("bad role: exit %d, want 2", code)
	}
	withStdin(t, "correct horse battery\n")
	code, out, errs := run(t, "admin", "create", "--data", data, "--user", "ann", "--role", "admin", "--password-stdin")
	if code != 0 {
		t.Fatalf("admin create: %d %s", code, errs)
	}
	sm := regexp.MustCompile(`TOTP secret: ([A-Z2-7]+)\nTOTP URI:    (otpauth://totp/\S+)`).FindStringSubmatch(out)
	if sm == nil || !strings.Contains(sm[2], "secret="+sm[1]) {
		t.Fatalf("admin create output: %q", out)
	}
	if _, err := os.Stat(filepath.Join(data, staffapi.SetupCodeFile)); !os.IsNotExist(err) {
		t.Fatalf("setup code left after an account exists: %v", err)
	}
	withStdin(t, "another password\n")
	if code, _, errs := run(t, "admin", "create", "--data", data, "--user", "ANN", "--role", "desk", "--password-stdin"); code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("duplicate: %d %q", code, errs)
	}

	pin, err := pki.ParseFingerprint(fp)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.PinnedTLSConfig(pin, "127.0.0.1")}, Timeout: 20 * time.Second}
	defer cl.CloseIdleConnections()
	post := func(path string, v any) (int, []byte) {
		body, _ := json.Marshal(v)
		resp, err := cl.Post("https://"+addr+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.Bytes()
	}
	if status, body := post(protocol.PathStaffSetup, protocol.SetupRequest{SetupCode: setupCode, User: "eve", Password: "eve's password"}); status != http.StatusForbidden {
		t.Fatalf("setup after admin create: %d %s", status, body)
	}
	totpCode, _ := totp.GenerateCode(sm[1], time.Now())
	status, body := post(protocol.PathStaffLogin, protocol.LoginRequest{User: "ann", Password: "correct horse battery", TOTP: totpCode})
	var lr protocol.LoginResponse
	if status != http.StatusOK || json.Unmarshal(body, &lr) != nil || lr.Role != protocol.RoleAdmin {
		t.Fatalf("login with the CLI-made account: %d %s", status, body)
	}

	code, out, _ = run(t, "admin", "list", "--data", data)
	if code != 0 || !regexp.MustCompile(`(?m)^ann\s+admin\s+active\s+\S+\s+20\d\d-`).MatchString(out) {
		t.Fatalf("admin list: %d %q", code, out)
	}
	code, out, _ = run(t, "admin", "list", "--data", data, "--json")
	var j staffJSON
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j.User != "ann" || j.LastLogin == nil {
		t.Fatalf("admin list --json: %d %q", code, out)
	}

	// The staff rows are in the audit chain: changing one is found.
	if code, out, _ := run(t, "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("audit verify: %d %q", code, out)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET actor = 'staff:eve' WHERE action = 'staff.login'`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errs := run(t, "audit", "verify", "--data", data); code != 1 || !strings.Contains(errs, "audit chain broken at row") {
		t.Fatalf("tampered staff row: exit %d %q", code, errs)
	}
}
