package session

import (
	"context"
	"log/slog"
	"time"
)

// pollWatcher is the watcher for sources that can only list sessions (WTS,
// macOS, a utmp file): it lists them every interval, or at once when nudged
// (Windows passes the service's session change notifications as nudges), and
// reports the difference. Sessions are told apart by ID, User and leader: the
// same ID with another user or leader is a logoff and a logon.
type pollWatcher struct {
	log      *slog.Logger
	interval time.Duration
	list     func(ctx context.Context) ([]Session, error)
	// complete, if set, fills in a session seen for the first time (a lookup
	// too costly to repeat on every poll).
	complete func(Session) Session
	nudges   chan struct{} // cap 1, coalesced
	polled   func()        // test hook, called after each poll
}

func newPollWatcher(log *slog.Logger, interval time.Duration, list func(context.Context) ([]Session, error)) *pollWatcher {
	return &pollWatcher{log: log, interval: max(interval, 100*time.Millisecond), list: list, nudges: make(chan struct{}, 1)}
}

var _ Watcher = (*pollWatcher)(nil)

// nudge asks for a poll now. It never blocks.
func (w *pollWatcher) nudge() {
	select {
	case w.nudges <- struct{}{}:
	default:
	}
}

func (w *pollWatcher) Run(ctx context.Context, fn func(Event)) error {
	known := make(map[string]Session)
	failing := false
	poll := func(initial bool) {
		now := time.Now().UTC()
		list, err := w.list(ctx)
		if err != nil {
			if ctx.Err() == nil && !failing {
				w.log.Warn("List sessions", "error", err)
			}
			failing = true
			return // keep the last good view
		}
		failing = false
		open := make(map[string]Session, len(list))
		for _, s := range list {
			if s.ID != "" && s.User != "" {
				open[s.ID] = s
			}
		}
		for id, s := range known {
			if o, ok := open[id]; !ok || o.User != s.User || o.leader != s.leader {
				delete(known, id)
				fn(Event{Kind: Logoff, Session: s})
			}
		}
		for id, s := range open {
			if _, ok := known[id]; ok {
				continue
			}
			if s.Since.IsZero() {
				s.Since = now
			}
			if w.complete != nil {
				s = w.complete(s)
			}
			known[id] = s
			fn(Event{Kind: Logon, Session: s, Initial: initial})
		}
	}
	poll(true)
	fn(Event{})
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-w.nudges:
		}
		poll(false)
		if w.polled != nil {
			w.polled()
		}
	}
}
