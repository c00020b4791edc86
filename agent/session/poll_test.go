package session

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeLister is a session list the test edits.
type fakeLister struct {
	mu   sync.Mutex
	list []Session
	err  error
}

func (l *fakeLister) set(err error, list ...Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list, l.err = list, err
}

func (l *fakeLister) get(context.Context) ([]Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Session(nil), l.list...), l.err
}

func TestPollWatcher(t *testing.T) {
	l := &fakeLister{}
	l.set(nil, Session{ID: "1", User: "staff1"}, Session{ID: "", User: "ghost"}, Session{ID: "9", User: ""})
	// An hour between polls: only nudges make it poll, so the test is exact.
	w := newPollWatcher(testLogger(t), time.Hour, l.get)
	polls := make(chan struct{})
	w.polled = func() { polls <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 16)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(ev Event) { events <- ev }) }()
	step := func() []Event {
		t.Helper()
		w.nudge()
		select {
		case <-polls:
		case <-time.After(10 * time.Second):
			t.Fatal("no poll after a nudge")
		}
		var got []Event
		for len(events) > 0 {
			got = append(got, <-events)
		}
		return got
	}

	if ev := recv(t, events, "initial logon"); ev.Kind != Logon || !ev.Initial || ev.Session.User != "staff1" || ev.Session.Since.IsZero() {
		t.Fatalf("initial %+v", ev)
	}
	if ev := recv(t, events, "end of list"); ev.Kind != 0 {
		t.Fatalf("want end of list, got %+v", ev)
	}
	l.set(nil, Session{ID: "1", User: "staff1"}, Session{ID: "2", User: "patron1"})
	if got := step(); len(got) != 1 || got[0].Kind != Logon || got[0].Initial || got[0].Session.ID != "2" {
		t.Fatalf("events %+v", got)
	}
	l.set(errors.New("RPC server unavailable"))
	if got := step(); len(got) != 0 {
		t.Fatalf("events on a failed list: %+v", got)
	}
	// Session 2 reused by another user: logoff, then logon.
	l.set(nil, Session{ID: "1", User: "staff1"}, Session{ID: "2", User: "patron2"})
	got := step()
	if len(got) != 2 || got[0].Kind != Logoff || got[0].Session.User != "patron1" || got[1].Kind != Logon || got[1].Session.User != "patron2" {
		t.Fatalf("events %+v", got)
	}
	l.set(nil)
	if got := step(); len(got) != 2 || got[0].Kind != Logoff || got[1].Kind != Logoff {
		t.Fatalf("events %+v", got)
	}
	cancel()
	if err := recv(t, done, "Run to return"); err != nil {
		t.Fatalf("Run = %v", err)
	}
}
