package hub

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

type eventReq struct {
	c  *agentConn
	ev store.Event
}

// storeWriter is the only goroutine that writes events and statuses. It commits
// whatever is queued, up to BatchMax events, in one transaction (group commit:
// under load batches grow by themselves while the previous commit runs, with no
// added delay when idle), then acknowledges each connection's highest seq.
// Every StatusFlush it also writes the newest status of each terminal that sent
// one: statuses only persist what the live view already shows.
//
// ctx is the serving context: a batch already received is committed even
// after it ends (context.WithoutCancel), since the agents were told nothing yet.
func (h *Hub) storeWriter(ctx context.Context) {
	defer close(h.writerOut)
	batch := make([]eventReq, 0, h.cfg.BatchMax)
	flush := time.NewTicker(h.cfg.StatusFlush)
	defer flush.Stop()
	for {
		batch = batch[:0]
		stopping, statuses := false, false
		select {
		case r := <-h.events:
			batch = append(batch, r)
		case <-flush.C:
			statuses = true
		case <-h.stopWrite:
			stopping, statuses = true, true
		}
	fill:
		for len(batch) < h.cfg.BatchMax {
			select {
			case r := <-h.events:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		h.commit(ctx, batch, statuses)
		if stopping {
			// Readers have ended: flush what is left and go.
			for len(h.events) > 0 {
				batch = batch[:0]
				for len(batch) < h.cfg.BatchMax && len(h.events) > 0 {
					batch = append(batch, <-h.events)
				}
				h.commit(ctx, batch, false)
			}
			return
		}
	}
}

func (h *Hub) commit(ctx context.Context, batch []eventReq, withStatuses bool) {
	var statuses []store.StatusUpdate
	if withStatuses {
		statuses = h.takeStatuses()
		// A fleet's second of statuses is thousands of rows: written in
		// transactions of BatchMax, so that a staff command's own write (it
		// waits for the one writer connection) waits for a short one, not for
		// all of them. The events go with the first.
		for len(statuses) > h.cfg.BatchMax {
			h.commitStatuses(ctx, statuses[:h.cfg.BatchMax])
			statuses = statuses[h.cfg.BatchMax:]
		}
	}
	var counts []store.Count
	if withStatuses {
		counts = h.takeCounts()
	}
	if len(batch) == 0 && len(statuses) == 0 && len(counts) == 0 {
		return
	}
	b := &store.Batch{Events: make([]store.Event, len(batch)), Statuses: statuses, Counts: counts}
	for i, r := range batch {
		b.Events[i] = r.ev
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := h.store.Commit(ctx, b); err != nil {
		// Not acknowledged: the agents keep the events and send them again.
		h.log.Error("Store commit failed, events not acknowledged", "events", len(batch), "err", err)
		if len(counts) > 0 {
			h.countMu.Lock()
			h.counts = append(counts, h.counts...) // the next commit tries them again
			h.countMu.Unlock()
		}
		for _, r := range batch {
			r.c.Close(wsserve.CloseTryAgainLater, "hub store unavailable")
		}
		return
	}
	if len(batch) > 0 {
		h.staff.Changed() // new events to push
		for _, r := range batch {
			h.api.SessionEvent(r.ev) // session.started and .ended go to the API's feed and webhooks
		}
	}
	// The highest seq per connection, in arrival order.
	acks := make(map[*agentConn]uint64, 4)
	var order []*agentConn
	for _, r := range batch {
		if _, seen := acks[r.c]; !seen {
			order = append(order, r.c)
		}
		if r.ev.Seq > acks[r.c] {
			acks[r.c] = r.ev.Seq
		}
	}
	for _, c := range order {
		frame, err := protocol.Encode(&protocol.Ack{Seq: acks[c]})
		if err == nil {
			c.enqueue(frame)
		}
	}
}

// commitStatuses persists some of the statuses taken; a failure only costs
// their being persisted (the live view has them, and the next ones follow).
func (h *Hub) commitStatuses(ctx context.Context, statuses []store.StatusUpdate) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := h.store.Commit(ctx, &store.Batch{Statuses: statuses}); err != nil {
		h.log.Error("Store commit of statuses failed", "statuses", len(statuses), "err", err)
	}
}

// takeStatuses empties the statuses waiting to be persisted and encodes them for
// the store.
func (h *Hub) takeStatuses() []store.StatusUpdate {
	h.statusMu.Lock()
	pending := h.statuses
	if len(pending) == 0 {
		h.statusMu.Unlock()
		return nil // pending is still the live map: never read it unlocked
	}
	h.statuses = make(map[string]statusUpdate, len(pending))
	h.statusMu.Unlock()
	out := make([]store.StatusUpdate, 0, len(pending))
	for id, u := range pending {
		b, err := json.Marshal(u.s)
		if err != nil {
			continue
		}
		out = append(out, store.StatusUpdate{Terminal: id, OS: u.s.OS, OSVersion: u.s.OSVersion,
			AgentVersion: u.s.AgentVersion, Status: b, Seen: u.seen})
	}
	return out
}

// presenceStripes is how many locks order registrations (Hub.presence).
const presenceStripes = 256

// presenceOf is the presence lock of terminal id.
func (h *Hub) presenceOf(id string) *sync.Mutex {
	f := fnv.New32a()
	f.Write([]byte(id))
	return &h.presence[f.Sum32()%presenceStripes]
}

// connectReq is a registration waiting for connectWriter.
type connectReq struct {
	ctx  context.Context // the registration's: done before its turn, it is answered unrecorded
	req  store.ConnectRequest
	done chan connectDone // buffered: the writer never waits for the caller
}

type connectDone struct {
	res store.ConnectResult
	err error
}

// connect records a Hello through connectWriter, which commits whatever
// registrations are waiting in one transaction: after a hub restart the whole
// fleet says Hello within seconds, and one transaction each kept the last
// agents waiting past the Hello timeout. Once queued, it waits for the
// writer's answer even past ctx, so a terminal is never recorded online
// behind its registration's back.
func (h *Hub) connect(ctx context.Context, r store.ConnectRequest) (store.ConnectResult, error) {
	cr := &connectReq{ctx: ctx, req: r, done: make(chan connectDone, 1)}
	select {
	case h.connects <- cr:
	case <-ctx.Done():
		return store.ConnectResult{}, ctx.Err()
	case <-h.connectsOut:
		return store.ConnectResult{}, errHubStopping
	}
	select {
	case d := <-cr.done:
		return d.res, d.err
	case <-h.connectsOut:
		select {
		case d := <-cr.done:
			return d.res, d.err
		default:
			return store.ConnectResult{}, errHubStopping
		}
	}
}

var errHubStopping = errors.New("hub stopping")

// connectWriter commits the registrations queued, up to BatchMax at a time, in
// one transaction each. ctx is the serving context; connectsOut is closed
// when it returns.
func (h *Hub) connectWriter(ctx context.Context) {
	defer close(h.connectsOut)
	batch := make([]*connectReq, 0, h.cfg.BatchMax)
	reqs := make([]store.ConnectRequest, 0, h.cfg.BatchMax)
	for {
		batch, reqs = batch[:0], reqs[:0]
		select {
		case r := <-h.connects:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
	fill:
		for len(batch) < h.cfg.BatchMax {
			select {
			case r := <-h.connects:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		live := batch[:0]
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.done <- connectDone{err: err}
				continue
			}
			live = append(live, r)
			reqs = append(reqs, r.req)
		}
		if len(live) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		out, err := h.store.ConnectBatch(cctx, reqs)
		cancel()
		for i, r := range live {
			if err != nil {
				r.done <- connectDone{err: err}
			} else {
				r.done <- connectDone{res: out[i], err: out[i].Err}
			}
		}
	}
}
