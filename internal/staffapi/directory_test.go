package staffapi

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/directory"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/testrig/slapd"
)

const staffLDIF = `dn: ou=people,dc=carrel,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=carrel,dc=test
objectClass: organizationalUnit
ou: groups

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

dn: cn=carrel-admins,ou=groups,dc=carrel,dc=test
objectClass: groupOfNames
cn: carrel-admins
member: uid=hub,ou=people,dc=carrel,dc=test

dn: cn=carrel-desk,ou=groups,dc=carrel,dc=test
objectClass: groupOfNames
cn: carrel-desk
member: uid=dev,ou=people,dc=carrel,dc=test
`

func newDirectoryRig(t *testing.T, url string, cas *x509.CertPool, timeout time.Duration) *lockoutRig {
	t.Helper()
	d, err := directory.New(directory.Config{URL: url, CAs: cas, BindDN: "uid=hub,ou=people,dc=carrel,dc=test", BindPassword: "hub-service-pw",
		BaseDN: "ou=people,dc=carrel,dc=test", GroupBaseDN: "ou=groups,dc=carrel,dc=test", Timeout: timeout,
		Roles: []directory.RoleGroup{{Group: "cn=carrel-admins,ou=groups,dc=carrel,dc=test", Role: "admin"}, {Group: "cn=carrel-desk,ou=groups,dc=carrel,dc=test", Role: "desk"}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &lockoutRig{st: st, clock: time.Now().Truncate(time.Second)}
	r.srv, err = New(context.Background(), Config{DataDir: dir, Argon: cheapArgon, Now: func() time.Time { return r.clock }, Directory: d},
		noTerminals{st}, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loginFull posts one login and returns the code and the session secret.
func (r *lockoutRig) loginFull(user, pw, code string) (int, string, protocol.Role, string) {
	body, _ := json.Marshal(protocol.LoginRequest{User: user, Password: pw, TOTP: code})
	req := httptest.NewRequest(http.MethodPost, protocol.PathStaffLogin, bytes.NewReader(body))
	req.RemoteAddr = "203.0.113.9:40000"
	rec := httptest.NewRecorder()
	r.srv.handleLogin(rec, req)
	var resp protocol.LoginResponse
	json.Unmarshal(rec.Body.Bytes(), &resp)
	return rec.Code, resp.Session, resp.Role, rec.Body.String()
}

// A directory account signs in with its directory password and the hub's
// TOTP; its role follows its groups; taken out of its group it is refused at
// its next request; the directory's password never reaches the store.
func TestDirectoryStaffAgainstSlapd(t *testing.T) {
	srv := slapd.Start(t, staffLDIF)
	r := newDirectoryRig(t, srv.LDAPSURL, srv.CAPool, 3*time.Second)
	ctx := context.Background()
	setup, err := CreateDirectoryStaff(ctx, r.st, "", "dev", "local:root")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _, body := r.loginFull("dev", "wrong", r.code(t, setup.TOTPSecret)); code != http.StatusUnauthorized {
		t.Fatalf("wrong directory password: %d %s", code, body)
	}
	if code, _, _, body := r.loginFull("dev", "dev-directory-pw", "000000"); code != http.StatusUnauthorized {
		t.Fatalf("right password, wrong TOTP: %d %s", code, body)
	}
	code, secret, role, body := r.loginFull("dev", "dev-directory-pw", r.code(t, setup.TOTPSecret))
	if code != http.StatusOK || role != protocol.RoleDesk {
		t.Fatalf("login: %d %s %s", code, role, body)
	}
	a, _ := r.st.StaffByName(ctx, "dev")
	if a.Password != "" || !a.Directory {
		t.Fatalf("stored account: %+v", a)
	}
	if s, err := r.srv.checkSession(ctx, secret, true); err != nil || s.Role != "desk" {
		t.Fatalf("first request: %+v %v", s, err)
	}

	// Promoted in the directory: admin from the next check on, audited.
	srv.Modify(t, "dn: cn=carrel-admins,ou=groups,dc=carrel,dc=test\nchangetype: modify\nadd: member\nmember: uid=dev,ou=people,dc=carrel,dc=test\n")
	r.clock = r.clock.Add(DirectoryRecheck)
	if s, err := r.srv.checkSession(ctx, secret, true); err != nil || s.Role != "admin" {
		t.Fatalf("after promotion: %+v %v", s, err)
	}
	if rows := auditRows(t, r.st, protocol.AuditStaffRole); len(rows) != 1 || !strings.Contains(rows[0].Detail, `"role":"admin"`) {
		t.Fatalf("role change audit: %+v", rows)
	}

	// Out of every Carrel group: the next request after the recheck is refused
	// and the session is over.
	srv.Modify(t, "dn: cn=carrel-admins,ou=groups,dc=carrel,dc=test\nchangetype: modify\ndelete: member\nmember: uid=dev,ou=people,dc=carrel,dc=test\n")
	// (replace: a groupOfNames must keep a member)
	srv.Modify(t, "dn: cn=carrel-desk,ou=groups,dc=carrel,dc=test\nchangetype: modify\nreplace: member\nmember: uid=hub,ou=people,dc=carrel,dc=test\n")
	r.clock = r.clock.Add(DirectoryRecheck)
	if _, err := r.srv.checkSession(ctx, secret, true); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("request after removal from the groups: %v", err)
	}
	if _, err := r.srv.checkSession(ctx, secret, true); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("the session came back: %v", err)
	}
	if code, _, _, body := r.loginFull("dev", "dev-directory-pw", r.code(t, setup.TOTPSecret)); code != http.StatusUnauthorized {
		t.Fatalf("login out of the groups: %d %s", code, body)
	}
	rows, _ := r.st.AuditLog(ctx, 0, 1000)
	for _, row := range rows {
		if strings.Contains(row.Detail, "dev-directory-pw") {
			t.Fatalf("the directory password is in the audit log: %+v", row)
		}
	}
}

// A directory that hangs costs a login its timeout and says so; a local
// break-glass admin still signs in.
func TestDirectoryThatHangsKeepsLocalAdminsIn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	r := newDirectoryRig(t, "ldaps://"+l.Addr().String(), x509.NewCertPool(), 400*time.Millisecond)
	ctx := context.Background()
	dirAcct, err := CreateDirectoryStaff(ctx, r.st, "", "dev", "local:root")
	if err != nil {
		t.Fatal(err)
	}
	local, err := createStaff(ctx, r.st, "", "ann", "a long local password", protocol.RoleAdmin, "local:root", false, cheapArgon)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, _, body := r.loginFull("dev", "dev-directory-pw", r.code(t, dirAcct.TOTPSecret))
	if took := time.Since(start); code != http.StatusBadGateway || took > 3*time.Second || !strings.Contains(body, "directory") {
		t.Fatalf("directory login with a hanging directory: %d after %s: %s", code, took, body)
	}
	if code, _, _, body := r.loginFull("ann", "a long local password", r.code(t, local.TOTPSecret)); code != http.StatusOK {
		t.Fatalf("local admin with the directory down: %d %s", code, body)
	}
}

func auditRows(t *testing.T, st *store.Store, action protocol.AuditAction) []store.AuditRecord {
	t.Helper()
	rows, err := st.AuditLog(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditRecord
	for _, r := range rows {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}
