package hubclient

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/gorilla/websocket"
)

// conn is one websocket to the hub: one reader (readLoop) and one writer
// (writeLoop) goroutine; requests wait for their response by ID.
type conn struct {
	ws   *websocket.Conn
	opts Options
	send chan []byte
	done chan struct{}

	mu      sync.Mutex // protects pending and err
	pending map[uint64]chan *protocol.StaffResponse
	err     error // why the connection ended, set once
}

func newConn(ws *websocket.Conn, opts Options) *conn {
	return &conn{ws: ws, opts: opts, send: make(chan []byte, 64), done: make(chan struct{}),
		pending: map[uint64]chan *protocol.StaffResponse{}}
}

// close ends the connection once and fails every request waiting on it.
func (c *conn) close(why error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = why
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	c.ws.Close()
	for _, ch := range pending {
		close(ch)
	}
}

func (c *conn) request(ctx context.Context, id uint64, op protocol.StaffOp, args json.RawMessage) (*protocol.StaffResponse, error) {
	frame, err := json.Marshal(protocol.StaffRequest{ID: id, Op: op, Args: args})
	if err != nil {
		return nil, err
	}
	if len(frame) > protocol.MaxFrame {
		return nil, fmt.Errorf("request of %d bytes is over the frame limit", len(frame))
	}
	ch := make(chan *protocol.StaffResponse, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, ErrDisconnected
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}()
	select {
	case c.send <- frame:
	case <-c.done:
		return nil, ErrDisconnected
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, ErrDisconnected
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *conn) writeLoop() {
	ping := time.NewTicker(c.opts.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return
		case frame := <-c.send:
			c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				c.close(fmt.Errorf("write: %w", err))
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteWait)); err != nil {
				c.close(fmt.Errorf("ping: %w", err))
				return
			}
		}
	}
}

// readLoop reads frames until the connection fails; responses go to their
// waiting request, pushes to push. A frame that does not decode ends the link.
func (c *conn) readLoop(push func(protocol.StaffPush)) error {
	extend := func() { c.ws.SetReadDeadline(time.Now().Add(c.opts.PongWait)) }
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.close(fmt.Errorf("read: %w", err))
			return c.reason()
		}
		extend()
		if err := c.handle(data, push); err != nil {
			c.close(err)
			return c.reason()
		}
	}
}

// handle decodes one frame from the hub and routes it: a response to the
// request waiting for its ID (an answer nobody waits for is dropped), a push to
// push. A frame that does not decode is an error that ends the link.
func (c *conn) handle(data []byte, push func(protocol.StaffPush)) error {
	f, err := protocol.DecodeStaffFrame(data)
	if err != nil {
		return fmt.Errorf("hub sent a bad frame: %w", err)
	}
	if f.Response != nil {
		c.mu.Lock()
		ch := c.pending[f.Response.ID]
		delete(c.pending, f.Response.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- f.Response // buffered 1, and removed from pending: never blocks
		}
		return nil
	}
	if (f.Push.Terminal == nil) == (f.Push.Event == nil) {
		return nil // exactly one must be set; ignore a malformed push
	}
	push(*f.Push)
	return nil
}

func (c *conn) reason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
