package hub

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
)

// staffConn is one console's websocket. The HTTP handler goroutine is its reader;
// writeLoop is its only writer. Requests that wait (commands) run in their own
// goroutines, at most maxInflight at a time, tracked by work.
type staffConn struct {
	h       *Hub
	user    string
	session []byte // SHA-256 of the session secret
	secret  string
	remote  string

	ctx    context.Context // ends when the connection does
	cancel context.CancelFunc
	work   sync.WaitGroup
	slots  chan struct{}

	peer // close also cancels ctx
}

const maxInflight = 8

// enqueue queues a frame without blocking. A full queue drops the console: it
// reconnects and catches up with since_event.
func (c *staffConn) enqueue(frame []byte) bool {
	return c.peer.enqueue(frame, func(queued int) {
		c.h.log.Warn("Staff console too slow, dropping it", "user", c.user, "queued", queued)
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
	if _, err := c.h.checkSession(c.ctx, c.secret, false); errors.Is(err, errSessionEnded) {
		c.close(closePolicyViolation, errSessionEnded.Error())
		return false
	}
	return true
}

// handleStaff authenticates a console and upgrades it to the staff websocket.
func (h *Hub) handleStaff(w http.ResponseWriter, r *http.Request) {
	ip := remoteIP(r.RemoteAddr)
	secret := bearer(r)
	if r.Header.Get("Origin") != "" {
		// Consoles never send Origin; browsers do. Refusing it shuts out
		// cross-site websockets riding on a session.
		actor := "unknown"
		if s, err := h.checkSession(r.Context(), secret, false); err == nil {
			actor = "staff:" + s.User
		}
		h.audit(actor, protocol.AuditStaffConnect, "", map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: browser origin " + truncate(r.Header.Get("Origin"), 100)})
		httpError(w, http.StatusForbidden, "staff endpoint refuses browser requests")
		return
	}
	s, err := h.checkSession(r.Context(), secret, true)
	if err != nil {
		if !errors.Is(err, errSessionEnded) {
			h.log.Error("Store lookup failed", "err", err)
			httpError(w, http.StatusServiceUnavailable, "hub store unavailable; try again later")
			return
		}
		// An expired session was audited as it ended; this records the attempt.
		h.audit("unknown", protocol.AuditStaffConnect, "", map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: no valid session"})
		httpError(w, http.StatusUnauthorized, err.Error())
		return
	}
	h.mu.Lock()
	closing := h.closing
	if !closing {
		h.connWG.Add(2)
	}
	h.mu.Unlock()
	if closing {
		httpError(w, http.StatusServiceUnavailable, "hub shutting down")
		return
	}
	defer h.connWG.Done()
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.connWG.Done()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &staffConn{h: h, user: s.User, session: sessionHash(secret), secret: secret, remote: ip,
		ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxInflight), peer: newPeer(ws, h.cfg.StaffSendQueue)}
	c.onClose = cancel
	ws.SetReadLimit(protocol.MaxFrame)
	h.staff.bus.add(c)
	go c.writeLoop(&h.connWG, h.cfg.PingInterval, h.cfg.WriteWait, c.keepSession)
	h.log.Info("Staff console connected", "user", c.user, "remote", ip)
	h.serveStaff(c)
	c.close(0, "")
	c.work.Wait()
	h.staff.bus.remove(c)
}

// serveStaff is the reader: one request a frame until the connection ends.
func (h *Hub) serveStaff(c *staffConn) {
	c.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait)) })
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			if !c.isDone() {
				h.log.Info("Staff console disconnected", "user", c.user, "err", err)
			}
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
		if kind != websocket.TextMessage {
			c.close(closePolicyViolation, "binary frames are not part of the protocol")
			return
		}
		req, err := protocol.DecodeStaffRequest(data)
		if err != nil {
			c.respond(0, nil, fmt.Errorf("bad request: %w", err))
			c.close(closePolicyViolation, "bad request")
			return
		}
		if !h.staffRequest(c, req) {
			return
		}
	}
}

// staffRequest checks the session and role for one request and runs it; false
// ends the connection.
func (h *Hub) staffRequest(c *staffConn, req *protocol.StaffRequest) bool {
	s, err := h.checkSession(c.ctx, c.secret, true)
	if err != nil {
		if errors.Is(err, errSessionEnded) {
			c.respond(req.ID, nil, err)
			c.close(closePolicyViolation, err.Error())
			return false
		}
		c.respond(req.ID, nil, errors.New("hub store unavailable; try again later"))
		return true
	}
	op := staffOps[req.Op]
	actor := "staff:" + s.User
	if op.run == nil {
		h.audit(actor, protocol.AuditStaffRequest, "", map[string]string{protocol.AuditKeyOp: truncate(string(req.Op), 64), protocol.AuditKeyResult: "refused: unknown op"})
		c.respond(req.ID, nil, fmt.Errorf("unknown op %q", truncate(string(req.Op), 64)))
		return true
	}
	x := &staffCall{h: h, c: c, user: s.User, role: protocol.Role(s.Role), actor: actor, req: req}
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
			h.runStaffOp(x, op)
		}()
		return true
	}
	h.runStaffOp(x, op)
	return true
}

func (h *Hub) runStaffOp(x *staffCall, op staffOp) {
	body, err := op.run(x)
	if errors.Is(err, errAnswered) {
		return
	}
	x.c.respond(x.req.ID, body, err)
}

// staffCall is one request being served.
type staffCall struct {
	h     *Hub
	c     *staffConn
	user  string
	role  protocol.Role
	actor string // "staff:<user>"
	req   *protocol.StaffRequest
}

// errAnswered says the op has queued its answer itself (subscribe).
var errAnswered = errors.New("answered")

// errForbidden answers a request the member's role does not allow.
var errForbidden = errors.New("forbidden: this needs the admin role")

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
	return errForbidden
}

// refuse audits a refused request.
func (x *staffCall) refuse(target, result string, detail map[string]string) {
	d := map[string]string{protocol.AuditKeyResult: result}
	for k, v := range detail {
		d[k] = v
	}
	x.h.audit(x.actor, protocol.AuditAction(x.req.Op), target, d)
	x.h.log.Warn("Staff request refused", "user", x.user, "op", x.req.Op, "target", target, "result", result)
}

func equalFoldUser(a, b string) bool { return strings.EqualFold(a, b) }

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
