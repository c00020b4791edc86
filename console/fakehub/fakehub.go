// Package fakehub is an in-memory hub that speaks the staff API of
// internal/protocol over real TLS (a CA made by internal/pki in a temp dir). It
// exists for the console's tests that need to steer the hub's side: the
// client's tests (dropped links, ended sessions, events stored while a console
// is away, set command answers) and the real-window test's 30-terminal room in
// every state. The real hub serves the same API; console/embedded's
// TestClientAgainstRealHub and console/xvfbtest's TestRealHub test the console
// against it.
//
// It is not a hub: no store, no agents, no real TOTP (a fixed code per user),
// no rate limits. Commands are recorded and answered by a test-set function.
// (2026-12: it is a second implementation of the staff API, kept until those
// tests run against the real hub; see issue 11.)
package fakehub

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/gorilla/websocket"
)

// Account is a staff member of the fake hub. Code is the TOTP code it accepts.
type Account struct {
	Password string
	Code     string
	Role     protocol.Role
	Disabled bool
	Created  time.Time
}

// Server is a running fake hub.
type Server struct {
	log  *slog.Logger
	ca   *pki.CA
	ln   net.Listener
	srv  *http.Server
	up   websocket.Upgrader
	done chan struct{}

	mu         sync.Mutex // protects every field below
	setupCode  string
	accounts   map[string]*Account
	sessions   map[string]string // session → user
	terminals  map[string]protocol.TerminalView
	events     []protocol.EventView
	quarantine []protocol.QuarantineView
	tokens     []protocol.TokenArgs
	revoked    []string
	audit      []protocol.AuditView
	auditBad   int64
	commands   []protocol.CommandArgs
	subscribes []int64 // SinceEvent of every OpSubscribe, in order
	dials      int
	conns      map[*fconn]bool
	answer     func(protocol.CommandArgs) (protocol.Result, error)
	changed    chan struct{} // closed and replaced on every recorded change
}

type fconn struct {
	ws         *websocket.Conn
	user       string
	send       chan []byte
	done       chan struct{}
	once       sync.Once
	subscribed bool // guarded by Server.mu
}

func (c *fconn) close() {
	c.once.Do(func() { close(c.done); c.ws.Close() })
}

// Start listens on 127.0.0.1 with a CA created in dir. setupCode is the one-time
// first-run code ("" disables setup).
func Start(dir, setupCode string, log *slog.Logger) (*Server, error) {
	ca, err := pki.LoadOrCreate(dir)
	if err != nil {
		return nil, err
	}
	cert, err := ca.ServerCertificate(nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		log: log, ca: ca, ln: ln, done: make(chan struct{}), setupCode: setupCode,
		accounts: map[string]*Account{}, sessions: map[string]string{},
		terminals: map[string]protocol.TerminalView{}, conns: map[*fconn]bool{},
		changed: make(chan struct{}),
		up: websocket.Upgrader{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096,
			CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" }},
		answer: func(a protocol.CommandArgs) (protocol.Result, error) {
			return protocol.Result{OK: true, Output: string(a.Action) + " done", Time: time.Now()}, nil
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathStaffSetup, s.handleSetup)
	mux.HandleFunc("POST "+protocol.PathStaffLogin, s.handleLogin)
	mux.HandleFunc("POST "+protocol.PathStaffLogout, s.handleLogout)
	mux.HandleFunc("GET "+protocol.PathStaff, s.handleWS)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}},
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() {
		defer close(s.done)
		s.srv.ServeTLS(ln, "", "")
	}()
	return s, nil
}

// URL is the hub's base URL (https://127.0.0.1:PORT).
func (s *Server) URL() string { return "https://" + s.ln.Addr().String() }

// Fingerprint is the CA fingerprint the console pins.
func (s *Server) Fingerprint() string { return s.ca.Fingerprint() }

// Close stops the server and drops every connection.
func (s *Server) Close() error {
	s.DropConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// AddAccount adds (or replaces) a staff account.
func (s *Server) AddAccount(user string, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.Created.IsZero() {
		a.Created = time.Now()
	}
	s.accounts[user] = &a
}

// SetCommandAnswer sets how commands are answered (default: OK).
func (s *Server) SetCommandAnswer(f func(protocol.CommandArgs) (protocol.Result, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = f
}

// SetQuarantine sets the quarantine list.
func (s *Server) SetQuarantine(q []protocol.QuarantineView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarantine = slices.Clone(q)
}

// SetAudit sets the audit log and the row Verify reports as bad (0: none).
func (s *Server) SetAudit(rows []protocol.AuditView, bad int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit, s.auditBad = slices.Clone(rows), bad
}

// Commands returns the commands received so far.
func (s *Server) Commands() []protocol.CommandArgs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Subscribes returns the SinceEvent of every OpSubscribe received, in order.
func (s *Server) Subscribes() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subscribes)
}

// Dials counts accepted websocket connections.
func (s *Server) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// WaitFor waits until cond (called with s's state locked, via the accessor
// methods' snapshot rules: cond must only call the exported getters) holds or
// the deadline passes.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakehub: condition not met: %w", ctx.Err())
		}
	}
}

// bump signals a change; s.mu must be held.
func (s *Server) bump() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// SetTerminal stores a terminal and pushes it to subscribed consoles.
func (s *Server) SetTerminal(t protocol.TerminalView) {
	s.mu.Lock()
	s.terminals[t.ID] = t
	s.mu.Unlock()
	s.push(protocol.StaffPush{Terminal: &t})
}

// AddEvent stores an event with the next ID and pushes it; it returns the ID.
func (s *Server) AddEvent(e protocol.EventView) int64 {
	s.mu.Lock()
	e.ID = int64(len(s.events) + 1)
	s.events = append(s.events, e)
	s.mu.Unlock()
	s.push(protocol.StaffPush{Event: &e})
	return e.ID
}

// AddEventQuiet stores an event without pushing it (as if it arrived while a
// console was disconnected); it returns the ID.
func (s *Server) AddEventQuiet(e protocol.EventView) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = int64(len(s.events) + 1)
	s.events = append(s.events, e)
	return e.ID
}

// DropConnections closes every staff websocket (the consoles should redial).
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*fconn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// EndSessions forgets every session: redials are refused with 401.
func (s *Server) EndSessions() {
	s.mu.Lock()
	clear(s.sessions)
	s.mu.Unlock()
	s.DropConnections()
}

func (s *Server) push(p protocol.StaffPush) {
	frame, _ := json.Marshal(protocol.StaffFrame{Push: &p})
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.subscribed {
			s.enqueue(c, frame)
		}
	}
}

// enqueue queues a frame; a console that does not keep up is dropped. s.mu held.
func (s *Server) enqueue(c *fconn, frame []byte) {
	select {
	case c.send <- frame:
	default:
		go c.close()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func readBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, protocol.MaxFrame+1))
	if err != nil {
		return err
	}
	return protocol.DecodeJSON(data, protocol.MaxFrame, v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	var req protocol.SetupRequest
	if err := readBody(r, &req); err != nil {
		writeJSON(w, 400, protocol.ErrorResponse{Error: "bad request"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setupCode == "" || len(s.accounts) > 0 || req.SetupCode != s.setupCode {
		writeJSON(w, 403, protocol.ErrorResponse{Error: "setup is closed or the code is wrong"})
		return
	}
	s.accounts[req.User] = &Account{Password: req.Password, Code: "000000", Role: protocol.RoleAdmin, Created: time.Now()}
	secret := "JBSWY3DPEHPK3PXP"
	writeJSON(w, 200, protocol.SetupResponse{User: req.User, TOTPSecret: secret,
		TOTPURI: "otpauth://totp/Carrel:" + req.User + "?secret=" + secret + "&issuer=Carrel"})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req protocol.LoginRequest
	if err := readBody(r, &req); err != nil {
		writeJSON(w, 400, protocol.ErrorResponse{Error: "bad request"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[req.User]
	if a == nil || a.Disabled || a.Password != req.Password || a.Code != req.TOTP {
		writeJSON(w, 401, protocol.ErrorResponse{Error: "wrong credentials"})
		return
	}
	sess := randomHex(16)
	s.sessions[sess] = req.User
	writeJSON(w, 200, protocol.LoginResponse{Session: sess, User: req.User, Role: a.Role, ExpiresAt: time.Now().Add(12 * time.Hour)})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	delete(s.sessions, bearer(r))
	s.mu.Unlock()
	w.WriteHeader(204)
}

func bearer(r *http.Request) string {
	const p = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) > len(p) && h[:len(p)] == p {
		return h[len(p):]
	}
	return ""
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		http.Error(w, "origin refused", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	user, ok := s.sessions[bearer(r)]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "no session", http.StatusUnauthorized)
		return
	}
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(protocol.MaxFrame)
	c := &fconn{ws: ws, user: user, send: make(chan []byte, 4096), done: make(chan struct{})}
	s.mu.Lock()
	s.conns[c] = true
	s.dials++
	s.bump()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.close()
	}()
	go func() {
		for {
			select {
			case <-c.done:
				return
			case f := <-c.send:
				ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := ws.WriteMessage(websocket.TextMessage, f); err != nil {
					c.close()
					return
				}
			}
		}
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		req, err := protocol.DecodeStaffRequest(data)
		if err != nil {
			return
		}
		// Commands wait for an "agent"; answer them off the read loop.
		if req.Op == protocol.OpCommand {
			go s.reply(c, req)
			continue
		}
		s.reply(c, req)
	}
}

func (s *Server) reply(c *fconn, req *protocol.StaffRequest) {
	body, err := s.handle(c, req)
	resp := protocol.StaffResponse{ID: req.ID, OK: err == nil}
	if err != nil {
		resp.Error = err.Error()
	} else if body != nil {
		resp.Body, _ = json.Marshal(body)
	}
	frame, _ := json.Marshal(protocol.StaffFrame{Response: &resp})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enqueue(c, frame)
	if req.Op == protocol.OpSubscribe && err == nil {
		// Catch-up first, then live pushes, in one critical section so none is
		// missed or repeated.
		var a protocol.SubscribeArgs
		json.Unmarshal(req.Args, &a)
		for _, e := range s.events {
			if e.ID > a.SinceEvent {
				f, _ := json.Marshal(protocol.StaffFrame{Push: &protocol.StaffPush{Event: &e}})
				s.enqueue(c, f)
			}
		}
		c.subscribed = true
		s.subscribes = append(s.subscribes, a.SinceEvent)
		s.bump()
	}
}

var errForbidden = errors.New("forbidden: admin only")

func (s *Server) handle(c *fconn, req *protocol.StaffRequest) (any, error) {
	s.mu.Lock()
	role := protocol.RoleDesk
	if a := s.accounts[c.user]; a != nil {
		role = a.Role
	}
	s.mu.Unlock()
	admin := role == protocol.RoleAdmin
	decode := func(v any) error { return protocol.DecodeJSON(req.Args, protocol.MaxFrame, v) }
	switch req.Op {
	case protocol.OpSubscribe:
		var a protocol.SubscribeArgs
		return nil, decode(&a)
	case protocol.OpHubInfo:
		return protocol.HubInfo{Fingerprint: s.Fingerprint(), HubURL: s.URL(), Version: "fake", User: c.user, Role: role}, nil
	case protocol.OpTerminals:
		s.mu.Lock()
		defer s.mu.Unlock()
		out := make([]protocol.TerminalView, 0, len(s.terminals))
		for _, t := range s.terminals {
			out = append(out, t)
		}
		slices.SortFunc(out, func(a, b protocol.TerminalView) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
		return out, nil
	case protocol.OpEvents:
		var a protocol.EventsArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		out := []protocol.EventView{}
		for i := len(s.events) - 1; i >= 0 && (a.Limit <= 0 || len(out) < a.Limit); i-- {
			e := s.events[i]
			if e.ID > a.SinceEvent && (a.Terminal == "" || e.Terminal == a.Terminal) {
				out = append(out, e)
			}
		}
		slices.Reverse(out)
		return out, nil
	case protocol.OpCommand:
		var a protocol.CommandArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		if !admin && !protocol.DeskActions[a.Action] {
			return nil, errForbidden
		}
		s.mu.Lock()
		s.commands = append(s.commands, a)
		answer := s.answer
		s.bump()
		s.mu.Unlock()
		res, err := answer(a)
		if err != nil {
			return nil, err
		}
		if res.ID == "" {
			res.ID = "cmd-" + randomHex(4)
		}
		return res, nil
	}
	if !admin {
		return nil, errForbidden
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.bump()
	switch req.Op {
	case protocol.OpTokenCreate:
		var a protocol.TokenArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		s.tokens = append(s.tokens, a)
		tok := "ctok_" + randomHex(12)
		fp := s.ca.Fingerprint()
		return protocol.TokenView{Token: tok, Fingerprint: fp, ExpiresAt: time.Now().Add(a.TTL), Uses: a.Uses,
			HubURL:       "wss://" + s.ln.Addr().String(),
			AgentCommand: "carrel-agent enroll --hub wss://" + s.ln.Addr().String() + " --fingerprint " + fp + " --token " + tok,
			MSICommand:   "msiexec /i carrel-agent.msi /qn HUB_URL=wss://" + s.ln.Addr().String() + " CA_FINGERPRINT=" + fp + " ENROLL_TOKEN=" + tok,
			DebCommand:   "echo carrel-agent carrel/token string " + tok + " | debconf-set-selections && apt install ./carrel-agent.deb"}, nil
	case protocol.OpTerminalRevoke:
		var a protocol.TerminalArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		s.revoked = append(s.revoked, a.Terminal)
		if t, ok := s.terminals[a.Terminal]; ok {
			t.Revoked = true
			s.terminals[a.Terminal] = t
		}
		return nil, nil
	case protocol.OpQuarantineList:
		return slices.Clone(s.quarantine), nil
	case protocol.OpStaffList:
		out := []protocol.StaffView{}
		for u, a := range s.accounts {
			out = append(out, protocol.StaffView{User: u, Role: a.Role, Created: a.Created, Disabled: a.Disabled})
		}
		slices.SortFunc(out, func(a, b protocol.StaffView) int {
			if a.User < b.User {
				return -1
			}
			return 1
		})
		return out, nil
	case protocol.OpStaffCreate:
		var a protocol.StaffCreateArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		s.accounts[a.User] = &Account{Password: a.Password, Code: "000000", Role: a.Role, Created: time.Now()}
		return protocol.SetupResponse{User: a.User, TOTPSecret: "KRSXG5CTMVRXEZLU",
			TOTPURI: "otpauth://totp/Carrel:" + a.User + "?secret=KRSXG5CTMVRXEZLU&issuer=Carrel"}, nil
	case protocol.OpStaffDisable:
		var a protocol.StaffArgs
		if err := decode(&a); err != nil {
			return nil, err
		}
		if acc := s.accounts[a.User]; acc != nil {
			acc.Disabled = true
		}
		return nil, nil
	case protocol.OpAuditList:
		return slices.Clone(s.audit), nil
	case protocol.OpAuditVerify:
		if s.auditBad != 0 {
			return protocol.AuditVerifyView{OK: false, Rows: int64(len(s.audit)), BadRow: s.auditBad, Problem: "hash does not chain"}, nil
		}
		return protocol.AuditVerifyView{OK: true, Rows: int64(len(s.audit))}, nil
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}
