package staffapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// noTerminals is the Hub of a hub with no terminal enrolled: the staff API is
// fuzzed on its own, with a real store, argon2id and TOTP (internal/hub's
// tests run it inside a real hub with real agents).
type noTerminals struct{ st *store.Store }

func (n noTerminals) Terminal(ctx context.Context, id string) (protocol.TerminalView, error) {
	return protocol.TerminalView{}, store.ErrNotFound
}
func (n noTerminals) Terminals(ctx context.Context) ([]protocol.TerminalView, error) { return nil, nil }
func (n noTerminals) SendCommand(ctx context.Context, terminal string, _ protocol.Action, _ map[string]string, _ string) (protocol.Result, error) {
	_, err := n.st.FindTerminal(ctx, terminal)
	if err == nil {
		err = errors.New("terminal is offline")
	}
	return protocol.Result{}, err
}
func (n noTerminals) Revoke(ctx context.Context, terminal, _ string) (store.Terminal, error) {
	_, err := n.st.FindTerminal(ctx, terminal)
	return store.Terminal{}, err
}
func (noTerminals) AgentURL() string    { return "wss://hub.test:8443" }
func (noTerminals) PublicName() string  { return "hub.test" }
func (noTerminals) Fingerprint() string { return "sha256:test" }
func (noTerminals) AuditHead(context.Context) (protocol.AuditHead, error) {
	return protocol.AuditHead{}, errors.New("no audit head in this test")
}
func (n noTerminals) PatronSession(ctx context.Context, terminal string) (protocol.SessionView, error) {
	_, err := n.st.FindTerminal(ctx, terminal)
	return protocol.SessionView{}, err
}
func (n noTerminals) AddTime(ctx context.Context, terminal string, _ int, _ string) (protocol.Grant, error) {
	_, err := n.st.FindTerminal(ctx, terminal)
	return protocol.Grant{}, err
}
func (noTerminals) GuestPasses(context.Context, protocol.GuestCreateArgs, string) (protocol.GuestPassesView, error) {
	return protocol.GuestPassesView{}, errors.New("no guest passes in this test")
}
func (noTerminals) PatronRules(_ context.Context, branch string) (protocol.BranchRules, error) {
	return protocol.BranchRules{Branch: branch, Rules: protocol.DefaultRules()}, nil
}
func (noTerminals) SetPatronRules(context.Context, string, *protocol.Rules, string) error {
	return errors.New("no rules in this test")
}
func (noTerminals) ILSLink() protocol.ILSLink {
	return protocol.ILSLink{State: protocol.ILSNotConfigured}
}

// fuzzServer is a staff API that is not serving (its handlers are called
// directly) with an admin "ann" and a desk member "dan", both logged in.
func fuzzServer(f *testing.F) (*Server, map[protocol.Role]string) {
	dir := f.TempDir()
	st, err := store.Open(filepath.Join(dir, "hub.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	clock := time.Now()
	srv, err := New(context.Background(), Config{DataDir: dir, LoginPerMinute: 1e9, LoginBurst: 1 << 30, Argon: cheapArgon,
		Now: func() time.Time { return clock }}, noTerminals{st}, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	sessions := map[protocol.Role]string{}
	for i, u := range []struct {
		name string
		role protocol.Role
	}{{"ann", protocol.RoleAdmin}, {"dan", protocol.RoleDesk}} {
		if _, err := srv.CreateStaff(ctx, u.name, "fuzz password", u.role, "test"); err != nil {
			f.Fatal(err)
		}
		secret, hash := newSessionSecret()
		if err := st.LoginSuccess(ctx, u.name, int64(i+1), hash, clock, clock.Add(time.Hour), "test"); err != nil {
			f.Fatal(err)
		}
		sessions[u.role] = secret
	}
	return srv, sessions
}

// FuzzLoginHandler feeds arbitrary bodies to the login handler (real store,
// argon2id, TOTP): it must answer 400, 401 or 429 with an
// ErrorResponse, never log anyone in, never fail with 5xx.
func FuzzLoginHandler(f *testing.F) {
	for _, seed := range []string{`{"user":"ann","password":"fuzz password","totp":"123456"}`, `{"user":"dan","password":"x","totp":""}`,
		"", "null", "[]", "{", `{"user":1}`, `{"user":"ann","password":"fuzz password","totp":"123456","role":"admin"}`,
		`{"user":"` + string(bytes.Repeat([]byte("a"), 100)) + `"}`, `{"user":"\u0000\ud800","password":"","totp":"      "}`} {
		f.Add([]byte(seed))
	}
	srv, _ := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, protocol.PathStaffLogin, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		srv.handleLogin(rec, req)
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
		protocol.OpAuditList, protocol.OpAuditVerify, protocol.OpHubInfo, protocol.OpReport, protocol.OpIMLS}
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
	f.Add("report", []byte(`{"from":"2026-12-01T00:00:00Z","to":"2016-01-01T00:00:00Z","by":"day"}`), false)
	f.Add("report", []byte(`{"from":"2026-11-01T00:00:00Z","to":"2026-12-01T00:00:00Z","by":"hour","metrics":["sessions","x"]}`), false)
	f.Add("report.imls", []byte(`{"year":-1}`), false)
	f.Add("unknown", []byte(`[1,2]`), false)
	srv, sessions := fuzzServer(f)
	ctx, stop := context.WithCancel(context.Background())
	go srv.bus.run(ctx)
	defer func() { stop(); <-srv.bus.done }()
	deskOK := map[protocol.StaffOp]bool{protocol.OpSubscribe: true, protocol.OpTerminals: true, protocol.OpEvents: true,
		protocol.OpCommand: true, protocol.OpHubInfo: true, protocol.OpReport: true, protocol.OpIMLS: true}
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
		c := &staffConn{srv: srv, user: map[bool]string{true: "ann", false: "dan"}[admin], secret: sessions[role],
			session: sessionHash(sessions[role]), ctx: ctx, cancel: cancel,
			slots: make(chan struct{}, maxInflight), Peer: wsserve.NewPeer(nil, 1024, cancel)}
		srv.staffRequest(c, req)
		c.work.Wait()
		var frame []byte
		select {
		case frame = <-c.Queue():
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
			case extra := <-c.Queue():
				t.Fatalf("second frame for one request %s: %s", op, extra)
			default:
			}
		}
		c.Close(0, "")
	})
}

func (noTerminals) StartMaintenance(context.Context, protocol.MaintenanceWindow, string) (protocol.MaintenanceWindow, error) {
	return protocol.MaintenanceWindow{}, errors.New("no maintenance here")
}
func (noTerminals) EndMaintenance(context.Context, int64, string) error {
	return errors.New("no maintenance here")
}
func (noTerminals) Maintenance(context.Context) (protocol.MaintenanceList, error) {
	return protocol.MaintenanceList{}, nil
}
func (noTerminals) ScheduleMaintenance(context.Context, protocol.MaintenanceScheduleArgs, string) error {
	return errors.New("no maintenance here")
}
