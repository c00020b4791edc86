package hub

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// liveView is the hub's in-memory truth about the terminals it has seen since it
// started: each one's latest decoded status, presence and lock state. Staff pushes
// are made from it; SQLite only persists it (the store writer flushes the newest
// status per terminal every StatusFlush). A terminal not seen since the start is
// read from the store instead.
//
// The lock state shown is the hub's (set when an agent answers a lock or unlock
// OK, and re-sent in Welcome), not the Locked an agent's status reports: the
// hub's is the staff decision, it survives agent restarts, and it is known the
// moment the agent answers rather than at its next status.
type liveView struct {
	mu    sync.Mutex
	terms map[string]*liveTerm // guarded by mu
}

type liveTerm struct {
	view   protocol.TerminalView // Status is the agent's, as decoded; never modified in place
	locked bool
}

func newLiveView() *liveView { return &liveView{terms: map[string]*liveTerm{}} }

// connected records a terminal online with the status of its Hello.
func (l *liveView) connected(t store.Terminal, s *protocol.Status, locked bool, now time.Time) {
	v := terminalView(t)
	v.Status, v.Online, v.LastSeen = s, true, now.UTC()
	l.mu.Lock()
	l.terms[t.ID] = &liveTerm{view: *v, locked: locked}
	l.mu.Unlock()
}

// update applies fn to a terminal's entry, if the hub has one.
func (l *liveView) update(id string, fn func(*liveTerm)) {
	l.mu.Lock()
	if t := l.terms[id]; t != nil {
		fn(t)
	}
	l.mu.Unlock()
}

func (l *liveView) status(id string, s *protocol.Status, now time.Time) {
	l.update(id, func(t *liveTerm) { t.view.Status, t.view.LastSeen = s, now.UTC() })
}

func (l *liveView) disconnected(id string, now time.Time) {
	l.update(id, func(t *liveTerm) { t.view.Online, t.view.LastSeen = false, now.UTC() })
}

func (l *liveView) revoked(id string) {
	l.update(id, func(t *liveTerm) { t.view.Revoked, t.view.Online = true, false })
}

func (l *liveView) renewed(id string, notAfter time.Time) {
	l.update(id, func(t *liveTerm) { t.view.CertExpires = notAfter.UTC() })
}

func (l *liveView) setBranch(id, branch string) {
	l.update(id, func(t *liveTerm) { t.view.Branch = branch })
}

func (l *liveView) setLocked(id string, locked bool) {
	l.update(id, func(t *liveTerm) { t.locked = locked })
}

// get returns what a console is shown for a terminal, or false if the hub has
// not seen it since it started.
func (l *liveView) get(id string) (protocol.TerminalView, bool) {
	l.mu.Lock()
	t := l.terms[id]
	var v protocol.TerminalView
	var locked bool
	if t != nil {
		v, locked = t.view, t.locked
	}
	l.mu.Unlock()
	if t == nil {
		return v, false
	}
	v.Since = time.Time{}
	if v.Status != nil {
		s := *v.Status
		s.Locked = locked
		v.Status = &s
		if v.Online && !s.SessionSince.IsZero() {
			v.Since = s.SessionSince.UTC()
		}
	}
	if !v.Online {
		v.Since = v.LastSeen
	}
	return v, true
}

// terminalView is how a console is shown a terminal's store record.
func terminalView(t store.Terminal) *protocol.TerminalView {
	v := &protocol.TerminalView{ID: t.ID, Name: t.Name, Branch: t.Branch, Online: t.Online, Revoked: t.Revoked(),
		LastSeen: t.LastSeen.UTC(), CertExpires: t.CertNotAfter.UTC()}
	if t.LastSeen.IsZero() {
		v.LastSeen = time.Time{}
	}
	if len(t.LastStatus) > 0 {
		var s protocol.Status
		if json.Unmarshal(t.LastStatus, &s) == nil {
			s.Locked = t.Locked // the hub's lock state, as in the live view
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

// Terminal is what a console is shown for one terminal: the live view, or the
// store for a terminal the hub has not seen since it started.
func (h *Hub) Terminal(ctx context.Context, id string) (protocol.TerminalView, error) {
	if v, ok := h.live.get(id); ok {
		return v, nil
	}
	t, err := h.store.Terminal(ctx, id)
	if err != nil {
		return protocol.TerminalView{}, err
	}
	return *terminalView(t), nil
}

// Terminals is every enrolled terminal as a console is shown it.
func (h *Hub) Terminals(ctx context.Context) ([]protocol.TerminalView, error) {
	ts, err := h.store.Terminals(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.TerminalView, len(ts))
	for i, t := range ts {
		if v, ok := h.live.get(t.ID); ok {
			v.Name = t.Name // renames are the store's
			out[i] = v
		} else {
			out[i] = *terminalView(t)
		}
	}
	return out, nil
}
