package hub

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// agentConn is one agent's live websocket. The HTTP handler goroutine is its
// reader; the peer's writeLoop is its only writer.
type agentConn struct {
	wsserve.Peer
	ctx    context.Context // the request's: ends when the connection's reader does
	h      *Hub
	id     string // terminal ID
	name   string
	term   store.Terminal // the terminal's row when the connection was accepted
	serial string         // the certificate the connection presented

	lastRenew time.Time // only the reader goroutine touches it
	// gen orders the connections the hub accepted; a higher gen is newer.
	gen uint64
	// helloAt is when the connection's Hello was read (set before register).
	helloAt time.Time
	// sessions are the starts of the patron sessions this connection
	// reported, by session ID, to count their minutes at their end
	// (countsFor); only the reader goroutine touches it.
	sessions map[string]time.Time
	// signing is set while a sign-in of this connection is being answered.
	signing atomic.Bool
}

// enqueue queues a frame without blocking. A full queue drops the agent.
func (c *agentConn) enqueue(frame []byte) bool {
	return c.Peer.Enqueue(frame, func(queued int) {
		c.h.log.Warn("Agent too slow, dropping it", "terminal", c.id, "queued", queued)
	})
}

// handleAgent upgrades an authenticated agent to a websocket and reads from it
// until it ends.
func (h *Hub) handleAgent(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		// Browsers send Origin; agents never do. Refusing it shuts out cross-site websockets.
		wsserve.HTTPError(w, http.StatusForbidden, "agent endpoint refuses browser requests")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		wsserve.HTTPError(w, http.StatusUnauthorized, "a client certificate is required: enroll this terminal first")
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	if expired(leaf, time.Now()) {
		refuseExpired(w, leaf)
		return
	}
	serial := pki.SerialHex(leaf.SerialNumber)
	term, revoked, err := h.store.TerminalByCert(r.Context(), serial)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		h.log.Error("Store lookup failed", "serial", serial, "err", err)
		wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub store unavailable; try again later")
		return
	case err != nil:
		h.quiet.Warn(serial, "Agent certificate unknown", "serial", serial, "cn", leaf.Subject.CommonName, "remote", r.RemoteAddr)
		wsserve.HTTPError(w, http.StatusForbidden, "certificate unknown to this hub")
		return
	case revoked:
		h.quiet.Warn(term.ID, "Revoked terminal refused", "terminal", term.ID, "serial", serial, "remote", r.RemoteAddr)
		wsserve.HTTPError(w, http.StatusForbidden, "certificate revoked")
		return
	case leaf.Subject.CommonName != term.ID:
		wsserve.HTTPError(w, http.StatusForbidden, "certificate does not name its terminal")
		return
	}
	h.mu.Lock()
	closing := h.closing
	if !closing {
		h.connWG.Add(2) // reader (this goroutine) and writer
	}
	h.mu.Unlock()
	if closing {
		wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub shutting down")
		return
	}
	defer h.connWG.Done()
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.connWG.Done() // no writer
		return          // Upgrade has answered
	}
	c := &agentConn{Peer: wsserve.NewPeer(ws, h.cfg.SendQueue, nil), ctx: r.Context(), serial: serial, h: h, id: term.ID, name: term.Name, term: term, gen: h.connGen.Add(1)}
	ws.SetReadLimit(protocol.MaxFrame)
	go c.WriteLoop(&h.connWG, h.cfg.PingInterval, h.cfg.WriteWait, nil)
	h.serveAgent(c)
}

// serveAgent is the reader: Hello, Welcome, then frames until the connection ends.
func (h *Hub) serveAgent(c *agentConn) {
	log := h.log.With("terminal", c.id)
	// When the reader ends on its own (the peer closed, vanished or timed out),
	// there is nobody to send a close frame to: code 0 sends none.
	defer c.Close(0, "")
	hello, err := h.readHello(c)
	if err != nil {
		h.quiet.Warn(c.id, "Agent handshake refused", "terminal", c.id, "err", err)
		return
	}
	c.helloAt = time.Now()
	if !h.register(c, hello) {
		return
	}
	defer h.unregister(c)
	h.resendGrant(c)
	log.Info("Agent connected", "name", c.name, "remote", c.WS.RemoteAddr().String(), "agentVersion", hello.Status.AgentVersion)

	c.WS.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	c.WS.SetPongHandler(func(string) error {
		return c.WS.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	})
	for {
		kind, data, err := c.WS.ReadMessage()
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has already sent close 1009 (message too big).
				h.quiet.Warn(c.id, "Agent frame too large, connection closed", "terminal", c.id, "limit", protocol.MaxFrame)
				c.Close(0, "")
			case websocket.IsCloseError(err, wsserve.CloseNormal, wsserve.CloseGoingAway):
				log.Info("Agent disconnected")
			default:
				log.Info("Agent connection ended", "err", err)
			}
			return
		}
		c.WS.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
		m, code, why := classifyFrame(kind, data)
		if m == nil {
			h.quiet.Warn(c.id, "Agent sent a bad frame, connection closed", "terminal", c.id, "reason", why)
			c.Close(code, why)
			return
		}
		if !h.dispatch(c, m) {
			return
		}
	}
}

func (h *Hub) readHello(c *agentConn) (*protocol.Hello, error) {
	c.WS.SetReadDeadline(time.Now().Add(h.cfg.HelloTimeout))
	kind, data, err := c.WS.ReadMessage()
	if err != nil {
		return nil, err
	}
	if kind != websocket.TextMessage {
		c.Close(wsserve.ClosePolicyViolation, "first frame must be a hello text frame")
		return nil, errors.New("first frame is binary")
	}
	m, err := protocol.Decode(data)
	if err != nil {
		c.Close(wsserve.ClosePolicyViolation, err.Error())
		return nil, err
	}
	hello, ok := m.(*protocol.Hello)
	if !ok {
		c.Close(wsserve.ClosePolicyViolation, "first frame must be hello")
		return nil, errors.New("first frame is " + string(m.MsgType()))
	}
	if hello.TerminalID != c.id {
		c.Close(wsserve.ClosePolicyViolation, "terminal_id does not match the certificate")
		return nil, errors.New("hello names terminal " + hello.TerminalID)
	}
	return hello, nil
}

// register records the agent online, queues Welcome, and makes c the terminal's
// connection, replacing (and closing) an older one.
func (h *Hub) register(c *agentConn, hello *protocol.Hello) bool {
	presence := h.presenceOf(c.id)
	presence.Lock()
	defer presence.Unlock()
	// Under a slow store, registrations queue here. A Hello that waited longer
	// than the handshake allows has nobody listening any more, and one from an
	// older connection than the terminal's current one is stale: neither may
	// touch the store, where a stale next_seq would look like an outbox reset
	// and open a new epoch (re-sent events would then be stored twice).
	if time.Since(c.helloAt) > h.cfg.WelcomeWithin {
		c.Close(wsserve.CloseTryAgainLater, "hello waited too long; connect again")
		return false
	}
	h.mu.Lock()
	cur := h.conns[c.id]
	h.mu.Unlock()
	if cur != nil && cur.gen > c.gen {
		h.log.Info("Stale agent connection refused", "terminal", c.id)
		c.Close(wsserve.ClosePolicyViolation, "superseded by a newer connection")
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	res, err := h.connect(ctx, store.ConnectRequest{ID: c.id, Serial: c.serial, NextSeq: hello.NextSeq})
	acked, locked, reset := res.AckedSeq, res.Locked, res.Reset
	if err != nil {
		h.log.Error("Store connect failed", "terminal", c.id, "err", err)
		c.Close(wsserve.CloseTryAgainLater, "hub store unavailable")
		return false
	}
	if reset {
		h.log.Warn("Agent event numbering restarted, new epoch", "terminal", c.id, "nextSeq", hello.NextSeq)
	}
	h.live.connected(c.term, &hello.Status, locked, time.Now())
	h.queueStatus(c.id, &hello.Status)
	w := &protocol.Welcome{TerminalID: c.id, AckedSeq: acked, HubTime: time.Now().UTC(), Locked: locked, GrantKey: grantKeyText(h.grantKey)}
	if head, err := h.recentAuditHead(ctx); err == nil {
		w.AuditHead = head
	}
	welcome, err := protocol.Encode(w)
	if err != nil {
		return false
	}
	// Welcome is queued and the connection published under one lock, so Welcome
	// is the first frame and the hub counts the agent online before it sees it.
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		c.Close(wsserve.CloseGoingAway, "hub shutting down")
		return false
	}
	if !c.enqueue(welcome) {
		h.mu.Unlock()
		return false
	}
	old := h.conns[c.id]
	h.conns[c.id] = c
	h.mu.Unlock()
	if old != nil {
		h.log.Info("Agent reconnected, replacing the old connection", "terminal", c.id)
		old.Close(wsserve.ClosePolicyViolation, "replaced by a newer connection")
	}
	return true
}

// unregister forgets c if it is still the terminal's connection and records the
// terminal offline.
func (h *Hub) unregister(c *agentConn) {
	presence := h.presenceOf(c.id)
	presence.Lock()
	defer presence.Unlock()
	h.mu.Lock()
	current := h.conns[c.id] == c
	if current {
		delete(h.conns, c.id)
	}
	h.mu.Unlock()
	if current {
		// Recorded even at shutdown: the terminal is offline either way.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 10*time.Second)
		defer cancel()
		if err := h.store.Disconnect(ctx, c.id); err != nil {
			h.log.Warn("Store disconnect failed", "terminal", c.id, "err", err)
		}
		h.live.disconnected(c.id, time.Now())
		h.forgetStatus(c.id)
		h.changed(c.id)
	}
}

// statusUpdate is a status waiting to be persisted, still decoded.
type statusUpdate struct {
	s    *protocol.Status
	seen time.Time
}

// queueStatus makes s the terminal's status: in the live view (and so pushed to
// consoles now) and, unless it differs from the last one queued only in its
// gauges within Config.GaugesEvery, queued for the store writer's next status
// flush, which writes only the newest per terminal.
func (h *Hub) queueStatus(id string, s *protocol.Status) {
	now := time.Now()
	h.live.status(id, s, now)
	h.statusMu.Lock()
	if last, ok := h.persisted[id]; !ok || now.Sub(last.seen) >= h.cfg.GaugesEvery || !sameButGauges(last.s, s) {
		u := statusUpdate{s: s, seen: now}
		h.statuses[id], h.persisted[id] = u, u
	}
	h.statusMu.Unlock()
	h.changed(id)
}

// changed tells the staff consoles and the API that these terminals changed.
func (h *Hub) changed(ids ...string) {
	h.staff.Changed(ids...)
	h.api.Changed(ids...)
}

// forgetStatus makes the next status of a terminal that went offline be
// persisted, whatever it holds.
func (h *Hub) forgetStatus(id string) {
	h.statusMu.Lock()
	delete(h.persisted, id)
	h.statusMu.Unlock()
}

// sameButGauges reports whether a and b differ at most in their gauges: CPU,
// memory and disk use.
func sameButGauges(a, b *protocol.Status) bool {
	x, y := *a, *b
	for _, t := range []struct{ x, y *time.Time }{{&x.BootTime, &y.BootTime}, {&x.AgentStarted, &y.AgentStarted},
		{&x.SessionSince, &y.SessionSince}, {&x.CertExpires, &y.CertExpires}} {
		if !t.x.Equal(*t.y) {
			return false
		}
		*t.x, *t.y = time.Time{}, time.Time{}
	}
	x.CPUPercent, x.MemUsed, x.DiskUsed = 0, 0, 0
	y.CPUPercent, y.MemUsed, y.DiskUsed = 0, 0, 0
	// By value: a status's pointers (the patron session) and slices (its
	// NICs) are new with every decoded frame.
	return reflect.DeepEqual(x, y)
}

// classifyFrame decodes one frame read from an agent after Hello. It returns the
// message, or nil with the close code and reason to end the connection with: a
// binary frame, anything protocol.Decode refuses, and types only the hub sends are
// all refused.
func classifyFrame(kind int, data []byte) (m protocol.Message, code int, why string) {
	if kind != websocket.TextMessage {
		return nil, wsserve.ClosePolicyViolation, "binary frames are not part of the protocol"
	}
	m, err := protocol.Decode(data)
	if err != nil {
		if errors.Is(err, protocol.ErrTooLarge) {
			return nil, wsserve.CloseTooBig, err.Error()
		}
		return nil, wsserve.ClosePolicyViolation, err.Error()
	}
	if !protocol.FromAgent(m.MsgType()) || m.MsgType() == protocol.TypeHello {
		return nil, wsserve.ClosePolicyViolation, "unexpected " + string(m.MsgType()) + " message"
	}
	return m, 0, ""
}

// dispatch handles one decoded frame after Hello; false ends the connection.
func (h *Hub) dispatch(c *agentConn, m protocol.Message) bool {
	switch m := m.(type) {
	case *protocol.Event:
		if m.Kind == protocol.EventSessionEnded {
			h.sessionEnded(c, m.Data)
		}
		req := eventReq{c: c, ev: store.Event{Terminal: c.id, Seq: m.Seq, Time: m.Time, Kind: m.Kind, Severity: string(m.Severity), Data: m.Data,
			Counts: h.countsFor(c, m)}}
		select {
		case h.events <- req:
			return true
		case <-c.Done():
			return false
		case <-h.writerOut:
			return false
		}
	case *protocol.Status:
		h.queueStatus(c.id, m)
		return true
	case *protocol.Result:
		h.deliverResult(c.id, m)
		return true
	case *protocol.Renew:
		h.renew(c, m)
		return true
	case *protocol.SignIn:
		h.signIn(c, m)
		return true
	}
	h.quiet.Warn(c.id, "Agent sent a message agents may not send, connection closed", "terminal", c.id, "type", m.MsgType())
	c.Close(wsserve.ClosePolicyViolation, "unexpected "+string(m.MsgType())+" message")
	return false
}

// renew signs a fresh certificate for the connection's own terminal.
func (h *Hub) renew(c *agentConn, m *protocol.Renew) {
	// One renewal a minute per connection: enough for an agent whose answer was
	// lost, too little for one that spins the CA.
	now := time.Now()
	if now.Sub(c.lastRenew) < time.Minute {
		h.log.Debug("Renewal ignored, too soon after the last", "terminal", c.id)
		return
	}
	c.lastRenew = now
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	// Once per certificate: one whose renewal already holds the link is not
	// renewed again (an agent that kept the old one would renew on every
	// connection).
	switch ok, err := h.store.RenewalAllowed(ctx, c.id, c.serial); {
	case err != nil:
		h.log.Error("Store renewal check failed", "terminal", c.id, "err", err)
		return
	case !ok:
		h.quiet.Warn(c.id, "Renewal refused: this certificate was renewed already and the new one is in use", "terminal", c.id, "serial", c.serial)
		return
	}
	certPEM, serial, notAfter, err := h.ca.SignCSR(m.CSR, c.id)
	if err != nil {
		h.quiet.Warn(c.id, "Renewal refused", "terminal", c.id, "err", err)
		return
	}
	if err := h.store.AddCert(ctx, c.id, serial, notAfter, "terminal:"+c.id, nil); err != nil {
		h.log.Error("Store renewed certificate failed", "terminal", c.id, "err", err)
		return
	}
	h.live.renewed(c.id, notAfter)
	h.changed(c.id)
	frame, err := protocol.Encode(&protocol.Cert{Certificate: certPEM})
	if err == nil {
		c.enqueue(frame)
	}
	h.log.Info("Certificate renewed", "terminal", c.id, "serial", serial, "notAfter", notAfter)
}

// OnlineCount is how many terminals have a live connection.
func (h *Hub) OnlineCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Online lists the terminal IDs with a live connection.
func (h *Hub) Online() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.conns))
	for id := range h.conns {
		out = append(out, id)
	}
	return out
}
