package link

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// pumpBatch is how many outbox events are fetched at a time.
const pumpBatch = 64

// session runs one connection: dial, Hello/Welcome, then a reader, one writer,
// the event pump, the status loop, the result forwarder and the renewal check,
// until one of them fails or ctx is done. up is how long the link was up.
func (c *Client) session(ctx context.Context) (up time.Duration, err error) {
	base, err := hubBase(c.opt.HubURL)
	if err != nil {
		return 0, err
	}
	target := *base
	target.Path = strings.TrimRight(base.Path, "/") + protocol.PathAgent
	roots := x509.NewCertPool()
	roots.AddCert(c.id.CA)
	dialer := websocket.Dialer{
		Proxy:            nil,
		HandshakeTimeout: c.opt.HandshakeTimeout,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
		// EnableCompression false: the read limit counts wire bytes, and a
		// decompressed frame would not be bounded.
		EnableCompression: false,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13,
			RootCAs:    roots,
			ServerName: base.Hostname(),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				cert := c.cert()
				return &cert, nil
			},
			ClientSessionCache: c.sessionsFor(),
		},
	}
	// No Origin header: the hub refuses any agent request that carries one.
	ws, resp, err := dialer.DialContext(ctx, target.String(), nil)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return 0, &RefusedError{Reason: fmt.Sprintf("HTTP %d on %s", resp.StatusCode, target.Path)}
		}
		if isCertRefusal(err) {
			return 0, &RefusedError{Reason: err.Error()}
		}
		if resp != nil {
			return 0, fmt.Errorf("dial %s: %w (HTTP %d)", target.Host, err, resp.StatusCode)
		}
		return 0, fmt.Errorf("dial %s: %w", target.Host, err)
	}
	defer ws.Close()
	ws.SetReadLimit(protocol.MaxFrame)

	welcome, hello, err := c.greet(ctx, ws)
	if err != nil {
		if isCertRefusal(err) {
			return 0, &RefusedError{Reason: err.Error()}
		}
		return 0, err
	}
	connected := time.Now()
	c.log.Info("Link to hub up", "hub", target.Host, "terminal", c.id.TerminalID,
		"hubAckedSeq", welcome.AckedSeq, "nextSeq", hello.NextSeq)

	g, gctx := errgroup.WithContext(ctx)
	sendq := make(chan []byte, c.opt.SendQueue)
	send := func(m protocol.Message) error {
		b, err := protocol.Encode(m)
		if err != nil {
			c.log.Error("Message not encodable; skipped", "type", m.MsgType(), "err", err)
			return nil
		}
		select {
		case sendq <- b:
			return nil
		case <-gctx.Done():
			return gctx.Err()
		}
	}
	down := c.connected(send)
	defer down()
	g.Go(func() error { return c.writer(gctx, ws, sendq) })
	g.Go(func() error { return c.reader(gctx, ws, send) })
	g.Go(func() error { return c.pump(gctx, welcome.AckedSeq, send) })
	g.Go(func() error { return c.statusLoop(gctx, hello.Status, send) })
	g.Go(func() error { return c.forwardResults(gctx, send) })
	g.Go(func() error { return c.renewLoop(gctx, send) })
	err = g.Wait()
	if err == nil {
		err = errors.New("connection closed")
	}
	return time.Since(connected), err
}

// greet sends Hello and waits for Welcome.
func (c *Client) greet(ctx context.Context, ws *websocket.Conn) (*protocol.Welcome, *protocol.Hello, error) {
	hello := &protocol.Hello{
		TerminalID: c.id.TerminalID,
		Status:     c.opt.Status.Collect(ctx),
		NextSeq:    c.opt.Outbox.NextSeq(),
	}
	b, err := protocol.Encode(hello)
	if err != nil {
		return nil, nil, fmt.Errorf("encode hello: %w", err)
	}
	ws.SetWriteDeadline(time.Now().Add(c.opt.WriteTimeout))
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return nil, nil, fmt.Errorf("send hello: %w", err)
	}
	ws.SetReadDeadline(time.Now().Add(c.opt.HandshakeTimeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		return nil, nil, fmt.Errorf("read welcome: %w", err)
	}
	m, err := protocol.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("read welcome: %w", err)
	}
	w, ok := m.(*protocol.Welcome)
	if !ok {
		return nil, nil, fmt.Errorf("read welcome: the hub sent %s first", m.MsgType())
	}
	if w.TerminalID != c.id.TerminalID {
		return nil, nil, fmt.Errorf("read welcome: the hub calls this terminal %q, not %q", protocol.Clip(w.TerminalID, 64), c.id.TerminalID)
	}
	if err := c.opt.Outbox.Ack(w.AckedSeq); err != nil {
		return nil, nil, fmt.Errorf("apply welcome ack: %w", err)
	}
	if c.opt.OnWelcome != nil {
		c.opt.OnWelcome(*w)
	}
	return w, hello, nil
}

// writer is the connection's only writer of data frames; it also pings. It
// closes the connection when it returns, which ends the reader.
func (c *Client) writer(ctx context.Context, ws *websocket.Conn, sendq <-chan []byte) error {
	defer ws.Close()
	ping := time.NewTicker(c.opt.PingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, "agent stopping"),
				time.Now().Add(c.opt.WriteTimeout))
			return nil
		case b := <-sendq:
			ws.SetWriteDeadline(time.Now().Add(c.opt.WriteTimeout))
			if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		case <-ping.C:
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opt.WriteTimeout)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

func (c *Client) reader(ctx context.Context, ws *websocket.Conn, send func(protocol.Message) error) error {
	extend := func() { ws.SetReadDeadline(time.Now().Add(c.opt.PongWait)) }
	extend()
	ws.SetPongHandler(func(string) error { extend(); return nil })
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		extend()
		if err := c.handleFrame(data); err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
}

// handleFrame acts on one frame from the hub. It returns an error only for a
// frame that means the connection cannot go on (another protocol version).
func (c *Client) handleFrame(data []byte) error {
	m, err := protocol.Decode(data)
	if err != nil {
		if errors.Is(err, protocol.ErrVersion) || errors.Is(err, protocol.ErrTooLarge) {
			return err
		}
		c.badFrame(data, err)
		return nil
	}
	switch m := m.(type) {
	case *protocol.Ack:
		if err := c.opt.Outbox.Ack(m.Seq); err != nil {
			c.log.Error("Outbox ack failed", "seq", m.Seq, "err", err)
		}
	case *protocol.Command:
		c.command(m)
	case *protocol.Cert:
		c.renewed(m)
	case *protocol.SignInAnswer:
		c.answered(m)
	case *protocol.GrantUpdate:
		if c.opt.OnGrant != nil {
			g := m.Grant
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.opt.OnGrant(g)
			}()
		}
	default:
		c.log.Warn("Unexpected message from hub", "type", m.MsgType())
	}
	return nil
}

// badFrame logs an undecodable frame; if it looks like a command with a usable
// id, that command is answered with a refusal, so that every command gets a result.
func (c *Client) badFrame(data []byte, err error) {
	c.log.Warn("Bad frame from hub", "err", err)
	var env protocol.Envelope
	var body struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &env) != nil || env.Type != protocol.TypeCommand || json.Unmarshal(env.Body, &body) != nil {
		return
	}
	r := protocol.Result{ID: body.ID, OK: false, Error: protocol.Clip("malformed command: "+err.Error(), protocol.MaxText), Time: c.now().UTC()}
	if r.Validate() == nil {
		c.result(r)
	}
}

// pump sends pending events in order, then new ones as they are appended.
func (c *Client) pump(ctx context.Context, cursor uint64, send func(protocol.Message) error) error {
	for {
		evs := c.opt.Outbox.Pending(cursor, pumpBatch)
		if len(evs) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-c.opt.Outbox.Notify():
				continue
			}
		}
		for i := range evs {
			if err := send(&evs[i]); err != nil {
				return nil // ctx done
			}
			cursor = evs[i].Seq
		}
	}
}

func (c *Client) statusLoop(ctx context.Context, last protocol.Status, send func(protocol.Message) error) error {
	lastSent := time.Now()
	t := time.NewTicker(min(c.opt.StatusCheck, c.opt.StatusInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.opt.StatusNudge: // nil when unset: never ready
		}
		cur := c.opt.Status.Collect(ctx)
		if time.Since(lastSent) < c.opt.StatusInterval && (c.opt.Changed == nil || !c.opt.Changed(last, cur)) {
			continue
		}
		if err := send(&cur); err != nil {
			return nil
		}
		last, lastSent = cur, time.Now()
	}
}

func (c *Client) forwardResults(ctx context.Context, send func(protocol.Message) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-c.results:
			if err := send(&r); err != nil {
				c.result(r) // keep it for the next connection
				return nil
			}
		}
	}
}
