package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// TestAdminUnlockAndResetTOTP: the recovery an IT person does on the hub's
// machine. An admin locked by failed logins from the network is unlocked with
// 'admin unlock'; one who lost the authenticator gets a new secret with
// 'admin reset-totp', after which only the new one logs in. Both are audited
// as the local user and keep the audit chain verifiable.
func TestAdminUnlockAndResetTOTP(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
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
	re := regexp.MustCompile(`listening on (\S+)\nCA fingerprint: ([0-9a-f]{64})\n`)
	waitFor(t, 20*time.Second, "serve to listen", func() bool { return re.MatchString(serveOut.String()) })
	m := re.FindStringSubmatch(serveOut.String())
	addr, fp := m[1], m[2]

	const pw = "correct horse battery"
	withStdin(t, pw+"\n")
	if code, _, errs := run(t, "admin", "create", "--data", data, "--user", "ann", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("admin create: %d %s", code, errs)
	}

	// Five wrong passwords from the network, as the hub records them.
	_, st, err := openExisting(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := st.LoginFailure(context.Background(), "ann", "wrong password", "203.0.113.9", time.Now(), 5, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	if code, out, _ := run(t, "admin", "list", "--data", data); code != 0 || !regexp.MustCompile(`(?m)^ann\s+admin\s+locked until`).MatchString(out) {
		t.Fatalf("admin list after the lock: %d %q", code, out)
	}
	if code, _, errs := run(t, "admin", "unlock", "--data", data); code != 2 || !strings.Contains(errs, "--user") {
		t.Fatalf("unlock without --user: %d %q", code, errs)
	}
	if code, _, errs := run(t, "admin", "unlock", "--data", data, "--user", "nobody"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("unlock nobody: %d %q", code, errs)
	}
	code, out, errs := run(t, "admin", "unlock", "--data", data, "--user", "ann")
	if code != 0 || !strings.Contains(out, "ann unlocked (was locked until") {
		t.Fatalf("admin unlock: %d %q %q", code, out, errs)
	}
	if code, out, _ := run(t, "admin", "list", "--data", data); code != 0 || !regexp.MustCompile(`(?m)^ann\s+admin\s+active`).MatchString(out) {
		t.Fatalf("admin list after unlock: %d %q", code, out)
	}

	// The authenticator is lost: a new secret.
	_, st, err = openExisting(data)
	if err != nil {
		t.Fatal(err)
	}
	old, err := st.StaffByName(context.Background(), "ann")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "admin", "reset-totp", "--data", data, "--user", "ann")
	sm := regexp.MustCompile(`TOTP secret: ([A-Z2-7]+)\nTOTP URI:    (otpauth://totp/\S+)`).FindStringSubmatch(out)
	if code != 0 || sm == nil || sm[1] == old.TOTPSecret {
		t.Fatalf("admin reset-totp: %d %q %q", code, out, errs)
	}
	pin, err := pki.ParseFingerprint(fp)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.PinnedTLSConfig(pin, "127.0.0.1")}, Timeout: 20 * time.Second}
	defer cl.CloseIdleConnections()
	login := func(secret string) int {
		c, _ := totp.GenerateCode(secret, time.Now())
		body, _ := json.Marshal(protocol.LoginRequest{User: "ann", Password: pw, TOTP: c})
		resp, err := cl.Post("https://"+addr+protocol.PathStaffLogin, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := login(old.TOTPSecret); status != http.StatusUnauthorized {
		t.Fatalf("login with the old secret: %d, want 401", status)
	}
	if status := login(sm[1]); status != http.StatusOK {
		t.Fatalf("login with the new secret: %d, want 200", status)
	}

	_, st, err = openExisting(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.AuditLog(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[protocol.AuditAction]string{}
	for _, r := range rows {
		seen[r.Action] = r.Actor
	}
	for _, a := range []protocol.AuditAction{protocol.AuditStaffUnlock, protocol.AuditStaffNewTOTP} {
		if !strings.HasPrefix(seen[a], "local:") {
			t.Errorf("%s audited as %q, want the local user", a, seen[a])
		}
	}
	if code, out, errs := run(t, "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("audit verify: %d %q %q", code, out, errs)
	}
}

// TestREADMESaysLockoutAndRecovery: the README's staff section tells an IT
// person the lockout rule and the way back in.
func TestREADMESaysLockoutAndRecovery(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "## Adding a staff member")
	if i < 0 {
		t.Fatal("README has no staff section")
	}
	section := readme[i:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	for _, want := range []string{"Five wrong logins", "15 minutes", "hub's own", "network logins only",
		"carrel-hub admin unlock --user NAME", "carrel-hub admin reset-totp --user NAME", "carrel-hub admin create", "hub restarts"} {
		if !strings.Contains(strings.Join(strings.Fields(section), " "), want) {
			t.Errorf("the README's staff section does not say %q", want)
		}
	}
}
