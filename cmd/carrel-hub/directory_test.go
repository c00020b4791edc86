package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/carrel-kiosk/carrel/internal/testrig/slapd"
)

const directoryLDIF = `dn: ou=people,dc=carrel,dc=test
objectClass: organizationalUnit
ou: people

dn: uid=hub,ou=people,dc=carrel,dc=test
objectClass: inetOrgPerson
uid: hub
cn: hub
sn: hub
userPassword: hub-service-pw

dn: uid=dev,ou=people,dc=carrel,dc=test
objectClass: inetOrgPerson
uid: dev
cn: Dev
sn: Desk
userPassword: dev-directory-pw

dn: cn=carrel-desk,dc=carrel,dc=test
objectClass: groupOfNames
cn: carrel-desk
member: uid=dev,ou=people,dc=carrel,dc=test
`

// The hub reads <data>/directory.toml at start; IT checks it with
// 'directory check'; a directory account made with 'admin create
// --directory' logs in over HTTPS with its directory password and a TOTP code.
func TestDirectorySignInThroughTheHub(t *testing.T) {
	srv := slapd.Start(t, directoryLDIF)
	data := filepath.Join(t.TempDir(), "hub")
	os.MkdirAll(data, 0o700)
	secrets := t.TempDir()
	os.WriteFile(filepath.Join(secrets, "ca.pem"), srv.CAPEM, 0o600)
	os.WriteFile(filepath.Join(secrets, "pw"), []byte("hub-service-pw\n"), 0o600)
	toml := fmt.Sprintf(`url = %q
ca_file = %q
bind_dn = "uid=hub,ou=people,dc=carrel,dc=test"
bind_password_file = %q
base_dn = "ou=people,dc=carrel,dc=test"
group_base_dn = "dc=carrel,dc=test"
timeout = "3s"

[[roles]]
group = "cn=carrel-desk,dc=carrel,dc=test"
role = "desk"
`, srv.LDAPURL, filepath.Join(secrets, "ca.pem"), filepath.Join(secrets, "pw"))
	os.WriteFile(filepath.Join(data, "directory.toml"), []byte("colour = \"blue\"\n"+toml), 0o600)
	if code, _, errs := run(t, "directory", "check", "--data", data, "--user", "dev"); code != 1 || !strings.Contains(errs, "unknown setting colour") {
		t.Fatalf("a settings file with an unknown key: %d %q", code, errs)
	}
	os.WriteFile(filepath.Join(data, "directory.toml"), []byte(toml), 0o600)
	if code, out, errs := run(t, "directory", "check", "--data", data, "--user", "dev"); code != 0 || !strings.Contains(out, "role:   desk") {
		t.Fatalf("directory check: %d %q %q", code, out, errs)
	}
	withStdin(t, "not it\n")
	if code, _, errs := run(t, "directory", "check", "--data", data, "--user", "dev", "--password-stdin"); code != 1 || !strings.Contains(errs, "wrong user name or password") {
		t.Fatalf("directory check with a wrong password: %d %q", code, errs)
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
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	re := regexp.MustCompile(`listening on (\S+)\nCA fingerprint: ([0-9a-f]{64})\n`)
	waitFor(t, 20*time.Second, "serve to listen", func() bool { return re.MatchString(serveOut.String()) })
	m := re.FindStringSubmatch(serveOut.String())
	if !strings.Contains(serveErr.String(), "Directory sign-in for staff") {
		t.Fatalf("serve did not say it uses the directory: %s", serveErr.String())
	}
	code, out, errs := run(t, "admin", "create", "--data", data, "--user", "dev", "--directory")
	sm := regexp.MustCompile(`TOTP secret: ([A-Z2-7]+)`).FindStringSubmatch(out)
	if code != 0 || sm == nil {
		t.Fatalf("admin create --directory: %d %q %q", code, out, errs)
	}
	if code, _, _ := run(t, "admin", "create", "--data", data, "--user", "x", "--directory", "--role", "admin"); code != 2 {
		t.Fatalf("--directory with --role: exit %d, want 2", code)
	}
	pin, _ := pki.ParseFingerprint(m[2])
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.PinnedTLSConfig(pin, "127.0.0.1")}, Timeout: 20 * time.Second}
	defer cl.CloseIdleConnections()
	login := func(pw string, at time.Time) (int, protocol.LoginResponse) {
		c, _ := totp.GenerateCode(sm[1], at)
		body, _ := json.Marshal(protocol.LoginRequest{User: "dev", Password: pw, TOTP: c})
		resp, err := cl.Post("https://"+m[1]+protocol.PathStaffLogin, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var lr protocol.LoginResponse
		json.NewDecoder(resp.Body).Decode(&lr)
		return resp.StatusCode, lr
	}
	if status, _ := login("wrong", time.Now()); status != http.StatusUnauthorized {
		t.Fatalf("wrong directory password: %d", status)
	}
	if status, lr := login("dev-directory-pw", time.Now().Add(30*time.Second)); status != http.StatusOK || lr.Role != protocol.RoleDesk {
		t.Fatalf("directory login: %d %+v", status, lr)
	}
}
