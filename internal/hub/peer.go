package hub

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// peer is the writing half of one websocket, an agent's or a staff console's:
// a bounded send queue drained by writeLoop, the connection's only writer, and
// a close that any goroutine may call once.
type peer struct {
	ws   *websocket.Conn
	send chan []byte // bounded; full means the peer is too slow and is dropped

	once      sync.Once
	done      chan struct{} // closed by close
	closeCode int           // set once, before done is closed
	closeWhy  string
	onClose   func() // run once by close, if set
}

func newPeer(ws *websocket.Conn, queue int) peer {
	return peer{ws: ws, send: make(chan []byte, queue), done: make(chan struct{})}
}

func (p *peer) isDone() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// close ends the connection: writeLoop sends a close frame with code and reason
// (none if code is 0) and closes the socket. Only the first call counts. Safe from
// any goroutine.
func (p *peer) close(code int, why string) {
	p.once.Do(func() {
		p.closeCode, p.closeWhy = code, why
		close(p.done)
		if p.onClose != nil {
			p.onClose()
		}
	})
}

// enqueue queues a frame without blocking. A full queue drops the peer (after
// tooSlow, which logs it): it reconnects and catches up.
func (p *peer) enqueue(frame []byte, tooSlow func(queued int)) bool {
	if p.isDone() {
		return false
	}
	select {
	case p.send <- frame:
		return true
	default:
		tooSlow(len(p.send))
		p.close(closeTryAgainLater, "send queue full")
		p.ws.Close() // unblock a write stuck on a slow peer at once
		return false
	}
}

// writeLoop writes queued frames and a ping every pingEvery, each within
// writeWait, until close; beforePing may end the connection instead of a ping
// (it returns false after calling close). It calls wg.Done when it returns.
func (p *peer) writeLoop(wg *sync.WaitGroup, pingEvery, writeWait time.Duration, beforePing func() bool) {
	defer wg.Done()
	defer p.ws.Close()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	write := func(kind int, frame []byte) bool {
		p.ws.SetWriteDeadline(time.Now().Add(writeWait))
		if err := p.ws.WriteMessage(kind, frame); err != nil {
			p.close(0, "")
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
				msg := websocket.FormatCloseMessage(p.closeCode, truncateReason(p.closeWhy))
				p.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			}
			return
		}
	}
}

// truncateReason keeps a close reason within the 123 bytes a close frame allows.
func truncateReason(s string) string {
	for len(s) > 123 {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}
