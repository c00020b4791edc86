package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// fuzzHub is a hub that is not serving (its handlers are called directly) with
// an admin "ann" and a desk member "dan", both logged in.
func fuzzHub(f *testing.F) (*Hub, map[protocol.Role]string) {
	h, err := New(Config{DataDir: filepath.Join(f.TempDir(), "data"), Listen: "127.0.0.1:0", NoControlSocket: true,
		StaffLoginPerMinute: 1e9, StaffLoginBurst: 1 << 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	h.staff.now = clock.now
	h.staff.params = cheapArgon
	ctx := context.Background()
	sessions := map[protocol.Role]string{}
	for i, u := range []struct {
		name string
		role protocol.Role
	}{{"ann", protocol.RoleAdmin}, {"dan", protocol.RoleDesk}} {
		if _, err := createStaff(ctx, h.store, h.cfg.DataDir, u.name, "fuzz password", u.role, "test", false, cheapArgon); err != nil {
			f.Fatal(err)
		}
		secret, hash := newSessionSecret()
		now := clock.now()
		if err := h.store.LoginSuccess(ctx, u.name, int64(i+1), hash, now, now.Add(time.Hour), "test"); err != nil {
			f.Fatal(err)
		}
		sessions[u.role] = secret
	}
	return h, sessions
}

// FuzzLoginHandler feeds arbitrary bodies to the login handler of a real hub
// (real store, argon2id, TOTP): it must answer 400, 401 or 429 with an
// ErrorResponse, never log anyone in, never fail with 5xx.
func FuzzLoginHandler(f *testing.F) {
	for _, seed := range []string{`{"user":"ann","password":"fuzz password","totp":"123456"}`, `{"user":"dan","password":"x","totp":""}`,
		"", "null", "[]", "{", `{"user":1}`, `{"user":"ann","password":"fuzz password","totp":"123456","role":"admin"}`,
		`{"user":"` + string(bytes.Repeat([]byte("a"), 100)) + `"}`, `{"user":"\u0000\ud800","password":"","totp":"      "}`} {
		f.Add([]byte(seed))
	}
	h, _ := fuzzHub(f)
	defer h.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, protocol.PathStaffLogin, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.handleLogin(rec, req)
		switch rec.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests:
		default:
			t.Fatalf("login answered %d to %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		var e protocol.ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("refusal is not an ErrorResponse: %q", rec.Body.Bytes())
		}
		if r, err := decodeLogin(body); err == nil && r == nil {
			t.Fatal("decodeLogin returned neither a request nor an error")
		}
	})
}

// FuzzStaffRequest runs arbitrary ops and args through the staff request handler
// as an admin and as a desk member: every request gets exactly one answer, with
// its ID, that decodes as a StaffFrame; a desk member never succeeds at an admin
// op; nothing panics.
func FuzzStaffRequest(f *testing.F) {
	ops := []protocol.StaffOp{protocol.OpSubscribe, protocol.OpTerminals, protocol.OpEvents, protocol.OpCommand, protocol.OpTokenCreate,
		protocol.OpTerminalRevoke, protocol.OpQuarantineList, protocol.OpStaffList, protocol.OpStaffCreate, protocol.OpStaffDisable,
		protocol.OpAuditList, protocol.OpAuditVerify, protocol.OpHubInfo}
	for i, op := range ops {
		f.Add(string(op), []byte(`{}`), i%2 == 0)
		f.Add(string(op), []byte(`null`), i%2 == 1)
	}
	f.Add("command", []byte(`{"terminal":"pc","action":"reboot"}`), false)
	f.Add("command", []byte(`{"terminal":"pc","action":"exec","args":{"cmd":"rm -rf /"}}`), true)
	f.Add("token.create", []byte(`{"uses":-1,"ttl":-5}`), true)
	f.Add("staff.create", []byte(`{"user":"x y","password":"p","role":"root"}`), true)
	f.Add("events", []byte(`{"since_event":-9223372036854775808,"limit":-1}`), false)
	f.Add("subscribe", []byte(`{"since_event":9223372036854775807}`), false)
	f.Add("audit.list", []byte(`{"since_id":0,"limit":1000000}`), true)
	f.Add("unknown", []byte(`[1,2]`), false)
	h, sessions := fuzzHub(f)
	defer h.Close()
	go h.staff.bus.run()
	defer h.staff.bus.shutdown()
	deskOK := map[protocol.StaffOp]bool{protocol.OpSubscribe: true, protocol.OpTerminals: true, protocol.OpEvents: true,
		protocol.OpCommand: true, protocol.OpHubInfo: true}
	var id uint64
	f.Fuzz(func(t *testing.T, op string, args []byte, admin bool) {
		id++
		role := protocol.RoleDesk
		if admin {
			role = protocol.RoleAdmin
		}
		raw, _ := json.Marshal(protocol.StaffRequest{ID: id, Op: protocol.StaffOp(op)})
		if json.Valid(args) {
			raw, _ = json.Marshal(map[string]any{"id": id, "op": op, "args": json.RawMessage(args)})
		}
		req, err := protocol.DecodeStaffRequest(raw)
		if err != nil {
			return // the reader closes the connection; nothing reaches the handler
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &staffConn{h: h, user: map[bool]string{true: "ann", false: "dan"}[admin], secret: sessions[role],
			session: sessionHash(sessions[role]), ctx: ctx, cancel: cancel,
			slots: make(chan struct{}, maxInflight), peer: newPeer(nil, 1024)}
		c.onClose = cancel
		h.staffRequest(c, req)
		c.work.Wait()
		var frame []byte
		select {
		case frame = <-c.send:
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer to %s %q", op, args)
		}
		fr, err := protocol.DecodeStaffFrame(frame)
		if err != nil || fr.Response == nil || fr.Response.ID != id {
			t.Fatalf("answer to %s %q: %v %s", op, args, err, frame)
		}
		if fr.Response.OK && !admin && !deskOK[req.Op] {
			t.Fatalf("desk member succeeded at %s %q", op, args)
		}
		if fr.Response.OK && req.Op == protocol.OpCommand {
			t.Fatalf("command succeeded with no terminal enrolled: %q", args)
		}
		if req.Op != protocol.OpSubscribe {
			select {
			case extra := <-c.send:
				t.Fatalf("second frame for one request %s: %s", op, extra)
			default:
			}
		}
		c.close(0, "")
	})
}
