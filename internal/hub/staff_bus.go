package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// staffBus pushes what agents report to subscribed consoles. The agent side only
// marks what changed and wakes the bus (never blocking); one bus goroutine reads
// new events and changed terminals from the store and queues them on each
// subscribed console's bounded send queue (a full queue drops that console).
// Because catch-up on subscribe runs in the same goroutine, a console gets every
// event with an ID above its since_event exactly once, in order.
type staffBus struct {
	h    *Hub
	kick chan struct{} // capacity 1
	subs chan subReq
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	conns map[*staffConn]bool // every live console; guarded by mu
	dirty map[string]bool     // terminals changed since the last push; guarded by mu

	// Owned by the run goroutine.
	subscribed map[*staffConn]bool
	lastID     int64
}

type subReq struct {
	c     *staffConn
	id    uint64
	since int64
}

// replayPage is how many events are read at a time.
const replayPage = 500

func newStaffBus(h *Hub) *staffBus {
	return &staffBus{h: h, kick: make(chan struct{}, 1), subs: make(chan subReq), stop: make(chan struct{}),
		done: make(chan struct{}), conns: map[*staffConn]bool{}, dirty: map[string]bool{}, subscribed: map[*staffConn]bool{}}
}

// changed marks terminals changed and wakes the bus for them and for new events.
// It never blocks.
func (b *staffBus) changed(terminals ...string) {
	if len(terminals) > 0 {
		b.mu.Lock()
		for _, t := range terminals {
			b.dirty[t] = true
		}
		b.mu.Unlock()
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *staffBus) add(c *staffConn) {
	b.mu.Lock()
	b.conns[c] = true
	b.mu.Unlock()
}

func (b *staffBus) remove(c *staffConn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

// each calls fn for every live console.
func (b *staffBus) each(fn func(*staffConn)) {
	b.mu.Lock()
	cs := make([]*staffConn, 0, len(b.conns))
	for c := range b.conns {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	for _, c := range cs {
		fn(c)
	}
}

// dropUser closes every console of a user (disabled account).
func (b *staffBus) dropUser(user string) {
	b.each(func(c *staffConn) {
		if equalFoldUser(c.user, user) {
			c.close(closePolicyViolation, "account disabled")
		}
	})
}

// dropSession closes every console of a session (logout).
func (b *staffBus) dropSession(hash []byte) {
	b.each(func(c *staffConn) {
		if bytes.Equal(c.session, hash) {
			c.close(closeNormal, "logged out")
		}
	})
}

// subscribe hands a subscription to the bus goroutine, which answers the request
// and then replays the missed events.
func (b *staffBus) subscribe(c *staffConn, id uint64, since int64) bool {
	select {
	case b.subs <- subReq{c: c, id: id, since: since}:
		return true
	case <-c.done:
	case <-b.done:
	}
	return false
}

func (b *staffBus) run() {
	defer close(b.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-b.done:
		}
	}()
	var err error
	if b.lastID, err = b.h.store.LastEventID(ctx); err != nil {
		b.h.log.Error("Staff push cannot start", "err", err)
	}
	for {
		select {
		case <-b.stop:
			return
		case r := <-b.subs:
			b.serveSubscribe(ctx, r)
		case <-b.kick:
			b.pushChanges(ctx)
		}
	}
}

func (b *staffBus) serveSubscribe(ctx context.Context, r subReq) {
	if !r.c.respond(r.id, struct{}{}, nil) {
		return
	}
	after := r.since
	for after > 0 && after < b.lastID {
		evs, err := b.h.store.EventsAfter(ctx, after, "", replayPage)
		if err != nil {
			b.h.log.Error("Staff catch-up failed", "user", r.c.user, "err", err)
			r.c.close(closeTryAgainLater, "hub store unavailable")
			return
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.ID > b.lastID {
				break
			}
			if !r.c.push(protocol.StaffPush{Event: eventView(e)}) {
				return
			}
			after = e.ID
		}
		if len(evs) < replayPage {
			break
		}
	}
	b.subscribed[r.c] = true
}

func (b *staffBus) pushChanges(ctx context.Context) {
	b.mu.Lock()
	dirty := b.dirty
	b.dirty = map[string]bool{}
	b.mu.Unlock()
	for c := range b.subscribed {
		if c.isDone() {
			delete(b.subscribed, c)
		}
	}
	if len(b.subscribed) == 0 {
		// Nobody listens: just keep up with the IDs.
		if id, err := b.h.store.LastEventID(ctx); err == nil {
			b.lastID = id
		}
		return
	}
	for id := range dirty {
		v, err := b.h.terminal(ctx, id)
		if err != nil {
			b.h.log.Debug("Staff push of a terminal failed", "terminal", id, "err", err)
			continue
		}
		b.broadcast(protocol.StaffPush{Terminal: &v})
	}
	for {
		evs, err := b.h.store.EventsAfter(ctx, b.lastID, "", replayPage)
		if err != nil {
			b.h.log.Error("Staff push of events failed", "err", err)
			return
		}
		for _, e := range evs {
			b.broadcast(protocol.StaffPush{Event: eventView(e)})
			b.lastID = e.ID
		}
		if len(evs) < replayPage {
			return
		}
	}
}

func (b *staffBus) broadcast(p protocol.StaffPush) {
	frame, err := json.Marshal(protocol.StaffFrame{Push: &p})
	if err != nil {
		return
	}
	for c := range b.subscribed {
		if !c.enqueue(frame) {
			delete(b.subscribed, c)
		}
	}
}

// shutdown stops the bus goroutine and waits for it.
func (b *staffBus) shutdown() {
	close(b.stop)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.h.log.Warn("Staff push did not stop in time")
	}
}

func eventView(e store.EventRecord) *protocol.EventView {
	return &protocol.EventView{ID: e.ID, Terminal: e.Terminal, Seq: e.Seq, Time: e.Time.UTC(), Kind: e.Kind,
		Severity: protocol.Severity(e.Severity), Data: e.Data}
}

func terminalView(t store.Terminal) *protocol.TerminalView {
	v := &protocol.TerminalView{ID: t.ID, Name: t.Name, Online: t.Online, Revoked: t.Revoked(),
		LastSeen: t.LastSeen.UTC(), CertExpires: t.CertNotAfter.UTC()}
	if t.LastSeen.IsZero() {
		v.LastSeen = time.Time{}
	}
	if len(t.LastStatus) > 0 {
		var s protocol.Status
		if json.Unmarshal(t.LastStatus, &s) == nil {
			s.Locked = t.Locked // the hub's lock state (live.go)
			v.Status = &s
			if t.Online && !s.SessionSince.IsZero() {
				v.Since = s.SessionSince.UTC()
			}
		}
	}
	if v.Since.IsZero() && !t.Online {
		v.Since = v.LastSeen
	}
	return v
}

// terminal is what a console is shown for one terminal: the live view, or the
// store for a terminal the hub has not seen since it started.
func (h *Hub) terminal(ctx context.Context, id string) (protocol.TerminalView, error) {
	if v, ok := h.live.get(id); ok {
		return v, nil
	}
	t, err := h.store.Terminal(ctx, id)
	if err != nil {
		return protocol.TerminalView{}, err
	}
	return *terminalView(t), nil
}
