package ui

import (
	"slices"
	"strings"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// RoomModel is the view model of the room: terminals by ID, the counts per
// display state, and the visible (filtered, searched, sorted) order. It is only
// touched on the UI goroutine (the bridge applies hub pushes there), so it has
// no lock.
type RoomModel struct {
	byID     map[string]protocol.TerminalView
	counts   map[protocol.DisplayState]int
	visible  []string              // IDs in name order, after filter and search
	stale    bool                  // visible must be recomputed
	filter   protocol.DisplayState // "" (every state) or the one state shown
	unproven bool                  // show only PCs whose self-test failed or never ran (proof.go)
	search   string                // lower-cased substring of the name
	unread   map[string]int        // alerts per terminal ID not yet looked at
}

// NewRoomModel returns an empty room.
func NewRoomModel() *RoomModel {
	return &RoomModel{byID: map[string]protocol.TerminalView{}, counts: map[protocol.DisplayState]int{}, unread: map[string]int{}}
}

// Alerted counts one more unread alert of a terminal (a live one: a blocked
// download, a dirty wipe, ...), until its detail is looked at (Read).
func (m *RoomModel) Alerted(id string) { m.unread[id]++ }

// Read marks a terminal's alerts as looked at.
func (m *RoomModel) Read(id string) { delete(m.unread, id) }

// Unread is the number of a terminal's alerts not yet looked at.
func (m *RoomModel) Unread(id string) int { return m.unread[id] }

// Replace sets the whole room (after login or a reconnect).
func (m *RoomModel) Replace(all []protocol.TerminalView) {
	clear(m.byID)
	clear(m.counts)
	for _, t := range all {
		m.byID[t.ID] = t
		m.counts[displayState(t)]++
	}
	m.stale = true
}

// Apply stores one terminal's new view and keeps the counts. It reports whether
// the terminal changed state (for notifications) and its previous view.
func (m *RoomModel) Apply(t protocol.TerminalView) (old protocol.TerminalView, existed bool) {
	old, existed = m.byID[t.ID]
	ns := displayState(t)
	if existed {
		os := displayState(old)
		m.counts[os]--
		if old.Name != t.Name || (m.filter != "" && os != ns) || (m.unproven && proven(old) != proven(t)) {
			m.stale = true
		}
	} else {
		m.stale = true
	}
	m.counts[ns]++
	m.byID[t.ID] = t
	return old, existed
}

// displayState is the terminal's display state, and StateUnknown for a word
// protocol.DisplayStates does not list (a newer agent's session state).
func displayState(t protocol.TerminalView) protocol.DisplayState {
	s := t.DisplayState()
	if !slices.Contains(protocol.DisplayStates, s) {
		return protocol.StateUnknown
	}
	return s
}

// SetFilter shows only terminals in one display state ("": every one).
func (m *RoomModel) SetFilter(state protocol.DisplayState) {
	if state != m.filter {
		m.filter, m.stale = state, true
	}
}

// SetNotProven shows only the terminals whose last self-test failed or that
// have none (on), or every one (off).
func (m *RoomModel) SetNotProven(on bool) {
	if on != m.unproven {
		m.unproven, m.stale = on, true
	}
}

// SetSearch shows only terminals whose name contains s (case-insensitive).
func (m *RoomModel) SetSearch(s string) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s != m.search {
		m.search, m.stale = s, true
	}
}

// Visible returns the IDs to show, in name order.
func (m *RoomModel) Visible() []string {
	if !m.stale {
		return m.visible
	}
	m.visible = m.visible[:0]
	for id, t := range m.byID {
		if m.filter != "" && displayState(t) != m.filter {
			continue
		}
		if m.unproven && proven(t) {
			continue
		}
		if m.search != "" && !strings.Contains(strings.ToLower(t.Name), m.search) {
			continue
		}
		m.visible = append(m.visible, id)
	}
	slices.SortFunc(m.visible, func(a, b string) int {
		ta, tb := m.byID[a], m.byID[b]
		if c := strings.Compare(ta.Name, tb.Name); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	m.stale = false
	return m.visible
}

// Get returns a terminal by ID.
func (m *RoomModel) Get(id string) (protocol.TerminalView, bool) {
	t, ok := m.byID[id]
	return t, ok
}

// Count is the number of terminals in a display state.
func (m *RoomModel) Count(state protocol.DisplayState) int { return m.counts[state] }

// Len is the number of terminals.
func (m *RoomModel) Len() int { return len(m.byID) }

// Offline lists the offline (not revoked) terminals in name order.
func (m *RoomModel) Offline() []protocol.TerminalView {
	var out []protocol.TerminalView
	for _, t := range m.byID {
		if displayState(t) == protocol.StateOffline {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b protocol.TerminalView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// EventLog keeps the newest events, newest first, once each.
type EventLog struct {
	max    int
	events []protocol.EventView // newest first
	seen   map[int64]bool
}

// NewEventLog keeps at most max events.
func NewEventLog(max int) *EventLog { return &EventLog{max: max, seen: map[int64]bool{}} }

// Add stores events (any order); it returns the ones that were new.
func (l *EventLog) Add(evs ...protocol.EventView) []protocol.EventView {
	var added []protocol.EventView
	for _, e := range evs {
		if l.seen[e.ID] {
			continue
		}
		l.seen[e.ID] = true
		added = append(added, e)
		i, _ := slices.BinarySearchFunc(l.events, e.ID, func(x protocol.EventView, id int64) int {
			switch {
			case x.ID > id:
				return -1
			case x.ID < id:
				return 1
			}
			return 0
		})
		l.events = slices.Insert(l.events, i, e)
	}
	for len(l.events) > l.max {
		delete(l.seen, l.events[len(l.events)-1].ID)
		l.events = l.events[:len(l.events)-1]
	}
	return added
}

// All returns the events, newest first. The slice must not be modified.
func (l *EventLog) All() []protocol.EventView { return l.events }

// Alerts returns the alert events, newest first.
func (l *EventLog) Alerts() []protocol.EventView {
	var out []protocol.EventView
	for _, e := range l.events {
		if e.Severity == protocol.SeverityAlert {
			out = append(out, e)
		}
	}
	return out
}

// ForTerminal returns up to n events of one terminal, newest first.
func (l *EventLog) ForTerminal(id string, n int) []protocol.EventView {
	var out []protocol.EventView
	for _, e := range l.events {
		if e.Terminal == id {
			out = append(out, e)
			if len(out) == n {
				break
			}
		}
	}
	return out
}
