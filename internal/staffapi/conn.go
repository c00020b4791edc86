package staffapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// staffConn is one console's websocket. The HTTP handler goroutine is its reader;
// writeLoop is its only writer. Requests that wait (commands) run in their own
// goroutines, at most maxInflight at a time, tracked by work.
type staffConn struct {
	srv     *Server
	user    string
	session []byte // SHA-256 of the session secret
	secret  string
	remote  string

	ctx    context.Context // ends when the connection does
	cancel context.CancelFunc
	work   sync.WaitGroup
	slots  chan struct{}

	wsserve.Peer // Close also cancels ctx
}

const maxInflight = 8

// enqueue queues a frame without blocking. A full queue drops the console: it
// reconnects and catches up with since_event.
func (c *staffConn) enqueue(frame []byte) bool {
	return c.Peer.Enqueue(frame, func(queued int) {
		c.srv.log.Warn("Staff console too slow, dropping it", "user", c.user, "queued", queued)
	})
}

func (c *staffConn) push(p protocol.StaffPush) bool {
	frame, err := json.Marshal(protocol.StaffFrame{Push: &p})
	if err != nil {
		return false
	}
	return c.enqueue(frame)
}

// respond queues the answer to request id: body on success, else err's text.
func (c *staffConn) respond(id uint64, body any, err error) bool {
	r := protocol.StaffResponse{ID: id, OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	} else if body != nil {
		b, merr := json.Marshal(body)
		if merr != nil {
			r.OK, r.Error = false, "encode answer: "+merr.Error()
		} else {
			r.Body = b
		}
	}
	frame, _ := json.Marshal(protocol.StaffFrame{Response: &r})
	if len(frame) > protocol.MaxStaffFrame {
		// A console reads at most MaxStaffFrame bytes a frame (2026-11: the staff
		// protocol has no paging yet; a room of ~5,000 terminals fits).
		r = protocol.StaffResponse{ID: id, Error: fmt.Sprintf("answer of %d bytes is larger than a frame (%d); ask for less", len(frame), protocol.MaxStaffFrame)}
		frame, _ = json.Marshal(protocol.StaffFrame{Response: &r})
	}
	return c.enqueue(frame)
}

// keepSession ends a console's connection when its session has expired: a
// console that only watches still has its session end. Run before each ping.
func (c *staffConn) keepSession() bool {
	if _, err := c.srv.checkSession(c.ctx, c.secret, false); errors.Is(err, ErrSessionEnded) {
		c.Close(wsserve.ClosePolicyViolation, ErrSessionEnded.Error())
		return false
	}
	return true
}

// handleStaff authenticates a console and upgrades it to the staff websocket.
func (srv *Server) handleStaff(w http.ResponseWriter, r *http.Request) {
	ip := wsserve.RemoteIP(r.RemoteAddr)
	secret := bearer(r)
	if r.Header.Get("Origin") != "" {
		// Consoles never send Origin; browsers do. Refusing it shuts out
		// cross-site websockets riding on a session.
		actor := "unknown"
		if s, err := srv.checkSession(r.Context(), secret, false); err == nil {
			actor = "staff:" + s.User
		}
		srv.auditRefusal(r.Context(), ip, actor, protocol.AuditStaffConnect, map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: browser origin " + protocol.Clip(r.Header.Get("Origin"), 100)})
		wsserve.HTTPError(w, http.StatusForbidden, "staff endpoint refuses browser requests")
		return
	}
	s, err := srv.checkSession(r.Context(), secret, true)
	if err != nil {
		if errors.Is(err, ErrDirectoryDown) {
			wsserve.HTTPError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		if !errors.Is(err, ErrSessionEnded) {
			srv.log.Error("Store lookup failed", "err", err)
			wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub store unavailable; try again later")
			return
		}
		// An expired session was audited as it ended; this records the attempt.
		srv.auditRefusal(r.Context(), ip, "unknown", protocol.AuditStaffConnect, map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: no valid session"})
		wsserve.HTTPError(w, http.StatusUnauthorized, err.Error())
		return
	}
	srv.mu.Lock()
	closing := srv.closing
	if !closing {
		srv.connWG.Add(2)
	}
	srv.mu.Unlock()
	if closing {
		wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub shutting down")
		return
	}
	defer srv.connWG.Done()
	ws, err := srv.upgrader.Upgrade(w, r, nil)
	if err != nil {
		srv.connWG.Done()
		return
	}
	// The console's requests end with its connection (and so at shutdown, when
	// Run closes every console).
	ctx, cancel := context.WithCancel(r.Context())
	c := &staffConn{srv: srv, user: s.User, session: sessionHash(secret), secret: secret, remote: ip,
		ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxInflight), Peer: wsserve.NewPeer(ws, srv.cfg.SendQueue, cancel)}
	ws.SetReadLimit(protocol.MaxFrame)
	srv.bus.add(c)
	go c.WriteLoop(&srv.connWG, srv.cfg.PingInterval, srv.cfg.WriteWait, c.keepSession)
	srv.log.Info("Staff console connected", "user", c.user, "remote", ip)
	srv.serveStaff(c)
	c.Close(0, "")
	c.work.Wait()
	srv.bus.remove(c)
}

// serveStaff is the reader: one request a frame until the connection ends.
func (srv *Server) serveStaff(c *staffConn) {
	c.WS.SetReadDeadline(time.Now().Add(srv.cfg.PongWait))
	c.WS.SetPongHandler(func(string) error { return c.WS.SetReadDeadline(time.Now().Add(srv.cfg.PongWait)) })
	for {
		kind, data, err := c.WS.ReadMessage()
		if err != nil {
			if !c.IsDone() {
				srv.log.Info("Staff console disconnected", "user", c.user, "err", err)
			}
			return
		}
		c.WS.SetReadDeadline(time.Now().Add(srv.cfg.PongWait))
		if kind != websocket.TextMessage {
			c.Close(wsserve.ClosePolicyViolation, "binary frames are not part of the protocol")
			return
		}
		req, err := protocol.DecodeStaffRequest(data)
		if err != nil {
			c.respond(0, nil, fmt.Errorf("bad request: %w", err))
			c.Close(wsserve.ClosePolicyViolation, "bad request")
			return
		}
		if !srv.staffRequest(c, req) {
			return
		}
	}
}

// staffRequest checks the session and role for one request and runs it; false
// ends the connection.
func (srv *Server) staffRequest(c *staffConn, req *protocol.StaffRequest) bool {
	s, err := srv.checkSession(c.ctx, c.secret, true)
	if err != nil {
		if errors.Is(err, ErrSessionEnded) {
			c.respond(req.ID, nil, err)
			c.Close(wsserve.ClosePolicyViolation, err.Error())
			return false
		}
		if errors.Is(err, ErrDirectoryDown) {
			c.respond(req.ID, nil, err)
			return true
		}
		c.respond(req.ID, nil, errors.New("hub store unavailable; try again later"))
		return true
	}
	op := staffOps[req.Op]
	actor := "staff:" + s.User
	if op.run == nil {
		srv.audit(c.ctx, actor, protocol.AuditStaffRequest, "", map[string]string{protocol.AuditKeyOp: protocol.Clip(string(req.Op), 64), protocol.AuditKeyResult: "refused: unknown op"})
		c.respond(req.ID, nil, fmt.Errorf("unknown op %q", protocol.Clip(string(req.Op), 64)))
		return true
	}
	x := &staffCall{srv: srv, c: c, user: s.User, role: protocol.Role(s.Role), actor: actor, req: req}
	if op.async {
		select {
		case c.slots <- struct{}{}:
		default:
			c.respond(req.ID, nil, fmt.Errorf("more than %d requests waiting; wait for an answer", maxInflight))
			return true
		}
		c.work.Add(1)
		go func() {
			defer c.work.Done()
			defer func() { <-c.slots }()
			srv.runStaffOp(x, op)
		}()
		return true
	}
	srv.runStaffOp(x, op)
	return true
}

func (srv *Server) runStaffOp(x *staffCall, op staffOp) {
	body, err := op.run(x)
	if errors.Is(err, errAnswered) {
		return
	}
	x.c.respond(x.req.ID, body, err)
}

// staffCall is one request being served.
type staffCall struct {
	srv   *Server
	c     *staffConn
	user  string
	role  protocol.Role
	actor string // "staff:<user>"
	req   *protocol.StaffRequest
}

// errAnswered says the op has queued its answer itself (subscribe).
var errAnswered = errors.New("answered")

// ErrForbidden answers a request the member's role does not allow.
var ErrForbidden = errors.New("forbidden: this needs the admin role")

// args strictly decodes the request's arguments (absent args decode as {}).
func (x *staffCall) args(v any) error {
	data := x.req.Args
	if len(data) == 0 || string(data) == "null" {
		data = []byte("{}")
	}
	if err := protocol.DecodeJSON(data, protocol.MaxFrame, v); err != nil {
		return fmt.Errorf("bad args for %s: %w", x.req.Op, err)
	}
	return nil
}

// admin refuses, and audits the refusal, unless the member is an admin.
func (x *staffCall) admin(target string, detail map[string]string) error {
	if x.role == protocol.RoleAdmin {
		return nil
	}
	x.refuse(target, "refused: admin only (role "+string(x.role)+")", detail)
	return ErrForbidden
}

// refuse audits a refused request.
func (x *staffCall) refuse(target, result string, detail map[string]string) {
	d := map[string]string{protocol.AuditKeyResult: result}
	for k, v := range detail {
		d[k] = v
	}
	x.srv.audit(x.c.ctx, x.actor, protocol.AuditAction(x.req.Op), target, d)
	x.srv.log.Warn("Staff request refused", "user", x.user, "op", x.req.Op, "target", target, "result", result)
}

func equalFoldUser(a, b string) bool { return strings.EqualFold(a, b) }
