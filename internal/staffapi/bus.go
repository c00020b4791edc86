package staffapi

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// staffBus pushes what agents report to subscribed consoles. The agent side only
// marks what changed and wakes the bus (never blocking); one bus goroutine reads
// new events and changed terminals from the store and queues them on each
// subscribed console's bounded send queue (a full queue drops that console).
// Because catch-up on subscribe runs in the same goroutine, a console gets every
// event with an ID above its since_event exactly once, in order.
type staffBus struct {
	srv  *Server
	kick chan struct{} // capacity 1
	subs chan subReq
	done chan struct{} // closed when run returns

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

func newStaffBus(srv *Server) *staffBus {
	return &staffBus{srv: srv, kick: make(chan struct{}, 1), subs: make(chan subReq),
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
			c.Close(wsserve.ClosePolicyViolation, "account disabled")
		}
	})
}

// dropSession closes every console of a session (logout).
func (b *staffBus) dropSession(hash []byte) {
	b.each(func(c *staffConn) {
		if bytes.Equal(c.session, hash) {
			c.Close(wsserve.CloseNormal, "logged out")
		}
	})
}

// subscribe hands a subscription to the bus goroutine, which answers the request
// and then replays the missed events.
func (b *staffBus) subscribe(c *staffConn, id uint64, since int64) bool {
	select {
	case b.subs <- subReq{c: c, id: id, since: since}:
		return true
	case <-c.Done():
	case <-b.done:
	}
	return false
}

// run serves subscriptions and pushes changes until ctx ends.
func (b *staffBus) run(ctx context.Context) {
	defer close(b.done)
	var err error
	if b.lastID, err = b.srv.store.LastEventID(ctx); err != nil && ctx.Err() == nil {
		b.srv.log.Error("Staff push cannot start", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
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
		evs, err := b.srv.store.EventsAfter(ctx, after, "", replayPage)
		if err != nil {
			b.srv.log.Error("Staff catch-up failed", "user", r.c.user, "err", err)
			r.c.Close(wsserve.CloseTryAgainLater, "hub store unavailable")
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
		if c.IsDone() {
			delete(b.subscribed, c)
		}
	}
	if len(b.subscribed) == 0 {
		// Nobody listens: just keep up with the IDs.
		if id, err := b.srv.store.LastEventID(ctx); err == nil {
			b.lastID = id
		}
		return
	}
	for id := range dirty {
		v, err := b.srv.hub.Terminal(ctx, id)
		if err != nil {
			b.srv.log.Debug("Staff push of a terminal failed", "terminal", id, "err", err)
			continue
		}
		b.broadcast(protocol.StaffPush{Terminal: &v})
	}
	for {
		evs, err := b.srv.store.EventsAfter(ctx, b.lastID, "", replayPage)
		if err != nil {
			b.srv.log.Error("Staff push of events failed", "err", err)
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

func eventView(e store.EventRecord) *protocol.EventView {
	return &protocol.EventView{ID: e.ID, Terminal: e.Terminal, Seq: e.Seq, Time: e.Time.UTC(), Kind: e.Kind,
		Severity: protocol.Severity(e.Severity), Data: e.Data}
}
