package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// feed is the live feed's bus: it turns the hub's "these changed" into state
// events (only when a terminal's display state, presence, name or branch
// changed, not at every status), and session events into theirs; numbers
// each event; keeps the last FeedRing for Last-Event-ID resume; and fans each
// one out, encoded once, to the clients that may see it and to the webhooks.
type feed struct {
	s *Server

	wake chan struct{} // cap 1: something is in dirty or sessions

	dirtyMu  sync.Mutex
	dirty    map[string]struct{} // terminals to re-read; guarded by dirtyMu
	sessions []store.Event       // session events to publish; guarded by dirtyMu
	lostSess int                 // session events dropped as the queue was full; guarded by dirtyMu

	mu      sync.Mutex
	clients map[*feedClient]struct{} // guarded by mu
	ring    []ringEntry              // the last FeedRing events, oldest first; guarded by mu
	lastID  uint64                   // guarded by mu
	last    map[string]stateKey      // what was last published per terminal; guarded by mu
	dropped uint64                   // clients dropped as too slow; guarded by mu
	closing bool                     // guarded by mu
}

type ringEntry struct {
	id     uint64
	branch string
	frame  []byte
}

type stateKey struct {
	state  protocol.DisplayState
	online bool
	name   string
	branch string
}

// feedClient is one open feed. q holds frames (shared between clients, never
// modified); when it is full the client is dropped: gone is closed and why
// set, and its handler writes a final event and returns.
type feedClient struct {
	key    store.APIKey
	branch string // "" for every branch
	q      chan []byte
	gone   chan struct{}
	why    string // set before gone is closed
}

func newFeed(s *Server) *feed {
	return &feed{s: s, wake: make(chan struct{}, 1), dirty: map[string]struct{}{},
		clients: map[*feedClient]struct{}{}, last: map[string]stateKey{},
		// IDs go on from the clock, so that one from before a hub restart is
		// lower than every new one and resumes with a fresh snapshot.
		lastID: uint64(time.Now().UnixMicro())}
}

const maxQueuedSessions = 4096

func (f *feed) changed(ids []string) {
	if len(ids) == 0 {
		return
	}
	f.dirtyMu.Lock()
	for _, id := range ids {
		f.dirty[id] = struct{}{}
	}
	f.dirtyMu.Unlock()
	f.poke()
}

func (f *feed) session(ev store.Event) {
	f.dirtyMu.Lock()
	if len(f.sessions) < maxQueuedSessions {
		f.sessions = append(f.sessions, ev)
	} else {
		f.lostSess++
	}
	f.dirtyMu.Unlock()
	f.poke()
}

func (f *feed) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run reads what changed and publishes it until ctx ends.
func (f *feed) run(ctx context.Context) {
	if views, err := f.s.hub.Terminals(ctx); err == nil {
		f.mu.Lock()
		for _, v := range views {
			f.last[v.ID] = keyOf2(v)
		}
		f.mu.Unlock()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
		f.dirtyMu.Lock()
		dirty, sessions, lost := f.dirty, f.sessions, f.lostSess
		f.dirty, f.sessions, f.lostSess = map[string]struct{}{}, nil, 0
		f.dirtyMu.Unlock()
		if lost > 0 {
			f.s.log.Warn("API feed lost session events: the queue was full", "lost", lost)
		}
		for id := range dirty {
			v, err := f.s.hub.Terminal(ctx, id)
			if err != nil {
				continue
			}
			k := keyOf2(v)
			f.mu.Lock()
			same := f.last[id] == k
			f.last[id] = k
			f.mu.Unlock()
			if same {
				continue
			}
			t := apiTerminal(v)
			f.publish(protocol.FeedEvent{Kind: protocol.FeedState, Time: f.s.cfg.Now().UTC(), Terminal: t.ID, Name: t.Name,
				Branch: t.Branch, State: t.State, Online: t.Online, Since: t.Since})
		}
		for _, ev := range sessions {
			e := protocol.FeedEvent{Kind: protocol.FeedSessionStarted, Time: ev.Time.UTC(), Terminal: ev.Terminal,
				Patron: protocol.PatronKind(ev.Data[protocol.DataKind]), Online: true}
			if ev.Kind == protocol.EventSessionEnded {
				e.Kind, e.Ended = protocol.FeedSessionEnded, ev.Data[protocol.DataEndReason]
			}
			if e.Patron != protocol.PatronCard && e.Patron != protocol.PatronGuest {
				e.Patron = ""
			}
			e.Ended = protocol.Clip(e.Ended, 40)
			if v, err := f.s.hub.Terminal(ctx, ev.Terminal); err == nil {
				e.Name, e.Branch, e.State = v.Name, v.Branch, v.DisplayState()
			}
			f.publish(e)
		}
	}
}

func keyOf2(v protocol.TerminalView) stateKey {
	return stateKey{state: v.DisplayState(), online: v.Online, name: v.Name, branch: v.Branch}
}

// sseFrame is one server-sent event.
func sseFrame(id uint64, kind protocol.FeedKind, data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + 48)
	if id > 0 {
		fmt.Fprintf(&b, "id: %d\n", id)
	}
	fmt.Fprintf(&b, "event: %s\ndata: ", kind)
	b.Write(data) // JSON has no newline
	b.WriteString("\n\n")
	return b.Bytes()
}

// publish numbers ev, keeps it for resume, and hands it to every client that
// may see it (dropping those whose queue is full) and to the webhooks.
func (f *feed) publish(ev protocol.FeedEvent) {
	f.mu.Lock()
	f.lastID++
	ev.ID = f.lastID
	data, _ := json.Marshal(ev)
	frame := sseFrame(ev.ID, ev.Kind, data)
	f.ring = append(f.ring, ringEntry{id: ev.ID, branch: ev.Branch, frame: frame})
	if len(f.ring) > f.s.cfg.FeedRing {
		f.ring = f.ring[len(f.ring)-f.s.cfg.FeedRing:]
	}
	for c := range f.clients {
		if c.branch != "" && c.branch != ev.Branch {
			continue
		}
		select {
		case c.q <- frame:
		default:
			f.dropped++
			f.dropLocked(c, "too slow: the feed's queue filled")
		}
	}
	f.mu.Unlock()
	f.s.hooks.enqueue(ev, data)
}

func (f *feed) dropLocked(c *feedClient, why string) {
	if _, ok := f.clients[c]; !ok {
		return
	}
	delete(f.clients, c)
	c.why = why
	close(c.gone)
}

func (f *feed) drop(c *feedClient, why string) {
	f.mu.Lock()
	f.dropLocked(c, why)
	f.mu.Unlock()
}

func (f *feed) dropKeys(ids map[string]bool, why string) {
	f.mu.Lock()
	for c := range f.clients {
		if ids[c.key.ID] {
			f.dropLocked(c, why)
		}
	}
	f.mu.Unlock()
}

func (f *feed) closeAll(why string) {
	f.mu.Lock()
	f.closing = true
	for c := range f.clients {
		f.dropLocked(c, why)
	}
	f.mu.Unlock()
}

func (f *feed) keyIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for c := range f.clients {
		if !seen[c.key.ID] {
			seen[c.key.ID] = true
			out = append(out, c.key.ID)
		}
	}
	return out
}

// FeedStats is the feed's state: open clients, clients dropped as too slow,
// and the frames queued in all clients' queues (bounded by FeedQueue each).
type FeedStats struct {
	Clients, Queued int
	Dropped         uint64
	LastID          uint64
}

// FeedStats says how the feed is.
func (s *Server) FeedStats() FeedStats {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	st := FeedStats{Clients: len(f.clients), Dropped: f.dropped, LastID: f.lastID}
	for c := range f.clients {
		st.Queued += len(c.q)
	}
	return st
}

// subscribe registers a client and returns, atomically with it, what it must
// be sent first: the events after lastID when the ring still has them, or
// nil and false when it must be sent a snapshot.
func (f *feed) subscribe(c *feedClient, lastID uint64, resume bool) (backlog [][]byte, snapshotID uint64, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return nil, 0, false, errStatus(http.StatusServiceUnavailable, "hub shutting down")
	}
	if len(f.clients) >= f.s.cfg.MaxClients {
		return nil, 0, false, errStatus(http.StatusServiceUnavailable, "too many feed clients")
	}
	f.clients[c] = struct{}{}
	if resume && lastID <= f.lastID && (lastID == f.lastID || (len(f.ring) > 0 && lastID+1 >= f.ring[0].id)) {
		for _, e := range f.ring {
			if e.id > lastID && (c.branch == "" || c.branch == e.branch) {
				backlog = append(backlog, e.frame)
			}
		}
		return backlog, f.lastID, true, nil
	}
	return nil, f.lastID, false, nil
}

// serveFeed is GET /api/v1/feed: server-sent events. A client without
// Last-Event-ID (or with one too old to resume) is first sent the current
// state of every terminal it may see, as "state" events carrying the ID of
// the latest event; then every event as it happens.
func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request) {
	key := keyOf(r)
	q, err := decodeQuery(r.URL.RawQuery, []string{"branch", "last_event_id"}, s.cfg.Now())
	if err != nil {
		s.fail(w, err)
		return
	}
	branch, err := s.allowBranch(key, q.Branch)
	if err != nil {
		s.fail(w, err)
		return
	}
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(h), 10, 64)
		if err != nil {
			s.fail(w, &HTTPError{Status: http.StatusBadRequest, Msg: "header Last-Event-ID must be an event ID", Param: "Last-Event-ID"})
			return
		}
		q.LastID, q.HasLast = n, true
	}
	c := &feedClient{key: key, branch: branch, q: make(chan []byte, s.cfg.FeedQueue), gone: make(chan struct{})}
	backlog, snapID, resumed, err := s.feed.subscribe(c, q.LastID, q.HasLast)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer s.feed.drop(c, "client gone")
	rc := http.NewResponseController(w)
	// The hub's server has read and write timeouts for ordinary requests; a
	// feed lives on, each write with its own deadline.
	_ = rc.SetReadDeadline(time.Time{})
	write := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteWait)); err != nil {
			return err
		}
		_, err := w.Write(b)
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := write([]byte("retry: 3000\n\n")); err != nil {
		return
	}
	if resumed {
		for _, fr := range backlog {
			if write(fr) != nil {
				return
			}
		}
	} else {
		views, err := s.hub.Terminals(r.Context())
		if err != nil {
			return
		}
		now := s.cfg.Now().UTC()
		for _, v := range views {
			t := apiTerminal(v)
			if branch != "" && t.Branch != branch {
				continue
			}
			data, _ := json.Marshal(protocol.FeedEvent{ID: snapID, Kind: protocol.FeedState, Time: now, Terminal: t.ID, Name: t.Name,
				Branch: t.Branch, State: t.State, Online: t.Online, Since: t.Since})
			if write(sseFrame(snapID, protocol.FeedState, data)) != nil {
				return
			}
		}
	}
	if rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(s.cfg.FeedPing)
	defer ping.Stop()
	for {
		select {
		case fr := <-c.q:
			if write(fr) != nil {
				return
			}
			for n := len(c.q); n > 0; n-- {
				if write(<-c.q) != nil {
					return
				}
			}
		case <-c.gone:
			data, _ := json.Marshal(protocol.FeedEvent{Kind: protocol.FeedDropped, Time: s.cfg.Now().UTC(), Reason: c.why})
			_ = rc.SetWriteDeadline(time.Now().Add(time.Second))
			w.Write(sseFrame(0, protocol.FeedDropped, data))
			rc.Flush()
			return
		case <-ping.C:
			if write([]byte(": ping\n\n")) != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
