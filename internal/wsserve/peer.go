package wsserve

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Close codes the hub sends (RFC 6455).
const (
	CloseNormal          = websocket.CloseNormalClosure
	CloseGoingAway       = websocket.CloseGoingAway
	ClosePolicyViolation = websocket.ClosePolicyViolation
	CloseTooBig          = websocket.CloseMessageTooBig
	CloseTryAgainLater   = websocket.CloseTryAgainLater
)

// maxCloseReason is the most a close frame's reason may hold (RFC 6455 §5.5).
const maxCloseReason = 123

// Peer is the writing half of one websocket, an agent's or a staff console's:
// a bounded send queue drained by WriteLoop, the connection's only writer, and
// a Close that any goroutine may call once.
type Peer struct {
	WS   *websocket.Conn
	send chan []byte // bounded; full means the peer is too slow and is dropped

	once      sync.Once
	done      chan struct{} // closed by Close
	closeCode int           // set once, before done is closed
	closeWhy  string
	onClose   func() // run once by Close, if set
}

// NewPeer makes the writing half of ws with a send queue of queue frames;
// onClose, if not nil, runs once when the peer is closed.
func NewPeer(ws *websocket.Conn, queue int, onClose func()) Peer {
	return Peer{WS: ws, send: make(chan []byte, queue), done: make(chan struct{}), onClose: onClose}
}

// Done is closed when the peer is closed.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Queue is the send queue WriteLoop drains; a test without a socket reads
// the frames from it.
func (p *Peer) Queue() <-chan []byte { return p.send }

// IsDone says whether the peer is closed.
func (p *Peer) IsDone() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Close ends the connection: WriteLoop sends a close frame with code and reason
// (none if code is 0) and closes the socket. Only the first call counts. Safe from
// any goroutine.
func (p *Peer) Close(code int, why string) {
	p.once.Do(func() {
		p.closeCode, p.closeWhy = code, why
		close(p.done)
		if p.onClose != nil {
			p.onClose()
		}
	})
}

// Enqueue queues a frame without blocking. A full queue drops the peer (after
// tooSlow, which logs it): it reconnects and catches up.
func (p *Peer) Enqueue(frame []byte, tooSlow func(queued int)) bool {
	if p.IsDone() {
		return false
	}
	select {
	case p.send <- frame:
		return true
	default:
		tooSlow(len(p.send))
		p.Close(CloseTryAgainLater, "send queue full")
		p.WS.Close() // unblock a write stuck on a slow peer at once
		return false
	}
}

// WriteLoop writes queued frames and a ping every pingEvery, each within
// writeWait, until Close; beforePing may end the connection instead of a ping
// (it returns false after calling Close). It calls wg.Done when it returns.
func (p *Peer) WriteLoop(wg *sync.WaitGroup, pingEvery, writeWait time.Duration, beforePing func() bool) {
	defer wg.Done()
	defer p.WS.Close()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	write := func(kind int, frame []byte) bool {
		p.WS.SetWriteDeadline(time.Now().Add(writeWait))
		if err := p.WS.WriteMessage(kind, frame); err != nil {
			p.Close(0, "")
			return false
		}
		return true
	}
	for {
		select {
		case frame := <-p.send:
			if !write(websocket.TextMessage, frame) {
				return
			}
		case <-ping.C:
			if beforePing != nil && !beforePing() {
				continue // closed: the done case sends the close frame
			}
			if !write(websocket.PingMessage, nil) {
				return
			}
		case <-p.done:
			if p.closeCode != 0 {
				msg := websocket.FormatCloseMessage(p.closeCode, protocol.Clip(p.closeWhy, maxCloseReason))
				p.WS.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			}
			return
		}
	}
}

// WaitGroup waits for wg; if it has not finished after d, it calls late (which
// should make it finish, e.g. by closing sockets) and waits on.
func WaitGroup(wg *sync.WaitGroup, d time.Duration, late func()) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		late()
		<-done
	}
}
