package staffapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// lockoutRig is a staff API with the default limits (5 failures, 15 minutes,
// 10 attempts a minute per address and per name), a real store and a clock
// the test moves; its login handler is called directly with a chosen remote
// address.
type lockoutRig struct {
	srv   *Server
	st    *store.Store
	clock time.Time
}

func newLockoutRig(t *testing.T) *lockoutRig {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &lockoutRig{st: st, clock: time.Now().Truncate(time.Second)}
	r.srv, err = New(context.Background(), Config{DataDir: dir, Argon: cheapArgon, Now: func() time.Time { return r.clock }},
		noTerminals{st}, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// login posts one attempt from remote ("203.0.113.9:40000", "127.0.0.1:40000").
func (r *lockoutRig) login(remote, user, pw, code string) int {
	body, _ := json.Marshal(protocol.LoginRequest{User: user, Password: pw, TOTP: code})
	req := httptest.NewRequest(http.MethodPost, protocol.PathStaffLogin, bytes.NewReader(body))
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	r.srv.handleLogin(rec, req)
	return rec.Code
}

// code is the TOTP code of the next 30-second step (the clock moves to it, so
// that each code is fresh).
func (r *lockoutRig) code(t *testing.T, secret string) string {
	t.Helper()
	r.clock = r.clock.Add(30 * time.Second)
	c, err := totp.GenerateCodeCustom(secret, r.clock, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// audited returns the staff.login rows of actor whose remote and result match.
func (r *lockoutRig) audited(t *testing.T, actor, remote, resultPrefix string) []map[string]string {
	t.Helper()
	rows, err := r.st.AuditLog(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, row := range rows {
		var d map[string]string
		json.Unmarshal([]byte(row.Detail), &d)
		if row.Actor == actor && row.Action == protocol.AuditStaffLogin && d[protocol.AuditKeyRemote] == remote && strings.HasPrefix(d[protocol.AuditKeyResult], resultPrefix) {
			out = append(out, d)
		}
	}
	return out
}

const adminPassword = "the only admin's password"

// TestRemoteFloodSparesLocalAdmin: a flood of wrong passwords for the only
// admin from the network locks remote logins (the right password and code
// included), but the admin at the hub's machine still logs in; failures there
// are counted apart and lock only logins from there.
func TestRemoteFloodSparesLocalAdmin(t *testing.T) {
	r := newLockoutRig(t)
	ctx := context.Background()
	setup, err := r.srv.CreateStaff(ctx, "admin", adminPassword, protocol.RoleAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	secret := setup.TOTPSecret

	// The flood: 40 wrong passwords from 40 addresses, enough to use up the
	// per-name rate limit too.
	for i := 0; i < 40; i++ {
		code := r.login(fmt.Sprintf("203.0.113.%d:40000", i+1), "admin", fmt.Sprintf("guess %d", i), "000000")
		if want := http.StatusUnauthorized; i < 5 && code != want {
			t.Fatalf("guess %d: %d, want %d", i, code, want)
		}
		if want := http.StatusTooManyRequests; i >= 5 && code != want {
			t.Fatalf("guess %d after the lock: %d, want %d", i, code, want)
		}
	}
	if n := len(r.audited(t, "staff:admin", "203.0.113.5", "refused: wrong password")); n != 1 {
		t.Fatalf("%d audit rows for the fifth guess, want 1", n)
	}
	if locked := r.audited(t, "staff:admin", "203.0.113.5", "refused: wrong password"); locked[0][protocol.AuditKeyLockedUntil] == "" {
		t.Fatalf("the fifth guess did not record the lock: %v", locked[0])
	}
	// From elsewhere on the network the right password and code are refused.
	if code := r.login("198.51.100.7:40000", "admin", adminPassword, r.code(t, secret)); code != http.StatusTooManyRequests {
		t.Fatalf("remote login with the right credentials while locked: %d, want 429", code)
	}

	// At the hub's machine the admin logs in, while the flood goes on (and
	// keeps the per-name rate limit of remote attempts used up).
	code := r.code(t, secret)
	for i := 0; i < 20; i++ {
		r.login(fmt.Sprintf("203.0.113.%d:40001", i+100), "admin", "more guesses", "000000")
	}
	if code := r.login("127.0.0.1:51000", "admin", adminPassword, code); code != http.StatusOK {
		t.Fatalf("login from the hub's machine during a remote flood: %d, want 200", code)
	}
	if len(r.audited(t, "staff:admin", "127.0.0.1", "ok")) != 1 {
		t.Fatal("the local login is not audited")
	}

	// Local failures (here from IPv6 loopback) are counted apart: five lock
	// local logins only.
	for i := 0; i < 5; i++ {
		if code := r.login("[::1]:51000", "admin", "local typo", "000000"); code != http.StatusUnauthorized {
			t.Fatalf("local failure %d: %d, want 401", i, code)
		}
	}
	local := r.audited(t, "staff:admin", "::1", "refused: wrong password")
	if len(local) != 5 || local[4][protocol.AuditKeyFailures] != "5" || local[4][protocol.AuditKeyLockedUntil] == "" {
		t.Fatalf("local failures audited as %v, want 5 rows, the last recording the lock", local)
	}
	if code := r.login("127.0.0.1:51000", "admin", adminPassword, r.code(t, secret)); code != http.StatusTooManyRequests {
		t.Fatalf("local login after five local failures: %d, want 429", code)
	}
	if len(r.audited(t, "staff:admin", "127.0.0.1", "refused: account locked until")) == 0 {
		t.Fatal("the local lock's refusal is not audited")
	}
	// ...and do not touch remote logins (the local success above cleared the
	// remote lock, as any login does).
	r.clock = r.clock.Add(time.Minute) // the remote per-name rate limit refills
	if code := r.login("198.51.100.7:40000", "admin", adminPassword, r.code(t, secret)); code != http.StatusOK {
		t.Fatalf("remote login after local failures: %d, want 200", code)
	}
	a, err := r.st.StaffByName(ctx, "admin")
	if err != nil || a.Failures != 0 || !a.LockedUntil.IsZero() {
		t.Fatalf("stored account after local failures: %+v %v", a, err)
	}

	// The local lock ends after 15 minutes.
	r.clock = r.clock.Add(15 * time.Minute)
	if code := r.login("127.0.0.1:51000", "admin", adminPassword, r.code(t, secret)); code != http.StatusOK {
		t.Fatalf("local login 15 minutes later: %d, want 200", code)
	}
}

func TestIsLocal(t *testing.T) {
	for ip, want := range map[string]bool{"127.0.0.1": true, "127.8.9.10": true, "::1": true, "::ffff:127.0.0.1": true,
		"10.0.0.1": false, "203.0.113.9": false, "::": false, "": false, "localhost": false, "fe80::1": false} {
		if got := isLocal(ip); got != want {
			t.Errorf("isLocal(%q) = %v, want %v", ip, got, want)
		}
	}
}
