// Package eventrec is the one recording protocol.EventSink for tests: it keeps
// every event in order, checks each against the wire contract as the outbox
// would, and lets a test wait for an event with a deadline instead of sleeping.
package eventrec

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Event is one recorded event.
type Event struct {
	Kind protocol.EventKind
	Sev  protocol.Severity
	Data map[string]string
	At   time.Time // when Emit was called (a latency benchmark's end)
}

// Recorder records events. The zero value is ready; it is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	events  []Event
	refused []error       // why Emit refused events that broke the contract
	err     error         // returned by Emit once set by Fail
	wake    chan struct{} // closed and replaced on every event
}

var _ protocol.EventSink = (*Recorder)(nil)

// Emit records one event. An event the hub would refuse (an empty kind, a data
// map over the contract's limits) is an error, as it would be on the wire.
func (r *Recorder) Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error {
	now := time.Now()
	ev := protocol.Event{Seq: 1, Time: now, Kind: kind, Severity: sev, Data: data}
	if err := ev.Validate(); err != nil {
		r.mu.Lock()
		r.refused = append(r.refused, fmt.Errorf("%s: %w", kind, err))
		r.mu.Unlock()
		return err
	}
	cp := make(map[string]string, len(data))
	for k, v := range data {
		cp[k] = v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.events = append(r.events, Event{Kind: kind, Sev: sev, Data: cp, At: now})
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
	return nil
}

// Fail makes every later Emit return err (a full or broken outbox).
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Refused returns why Emit refused each event that broke the wire contract,
// in order (not the refusals after Fail).
func (r *Recorder) Refused() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.refused...)
}

// CheckContract fails t when it ends if any event broke the wire contract:
// for code that only logs a refused Emit, where the refusal would go unseen.
func (r *Recorder) CheckContract(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		for _, err := range r.Refused() {
			t.Errorf("emitted an event the hub would refuse: %v", err)
		}
	})
}

// All returns a copy of every event so far, in order.
func (r *Recorder) All() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// OfKind returns the events of one kind, in order.
func (r *Recorder) OfKind(kind protocol.EventKind) []Event {
	var out []Event
	for _, e := range r.All() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// Count is len(OfKind(kind)).
func (r *Recorder) Count(kind protocol.EventKind) int { return len(r.OfKind(kind)) }

// Has reports whether an event of kind was recorded.
func (r *Recorder) Has(kind protocol.EventKind) bool { return r.Count(kind) > 0 }

// Kinds returns the kind of every event, in order.
func (r *Recorder) Kinds() []protocol.EventKind {
	var out []protocol.EventKind
	for _, e := range r.All() {
		out = append(out, e.Kind)
	}
	return out
}

// Last returns the newest event, or the zero Event.
func (r *Recorder) Last() Event {
	all := r.All()
	if len(all) == 0 {
		return Event{}
	}
	return all[len(all)-1]
}

// Wait returns the first event for which match is true, waiting for it until
// timeout; it fails the test with what was recorded if none comes.
func (r *Recorder) Wait(t testing.TB, timeout time.Duration, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for _, e := range r.events {
			if match(e) {
				r.mu.Unlock()
				return e
			}
		}
		if r.wake == nil {
			r.wake = make(chan struct{})
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("no event %s within %v; recorded: %s", what, timeout, r)
			return Event{}
		}
	}
}

// WaitKind waits for the first event of kind.
func (r *Recorder) WaitKind(t testing.TB, timeout time.Duration, kind protocol.EventKind) Event {
	t.Helper()
	return r.Wait(t, timeout, string(kind), func(e Event) bool { return e.Kind == kind })
}

// String lists the recorded events, for failure messages.
func (r *Recorder) String() string {
	all := r.All()
	s := fmt.Sprintf("%d event(s)", len(all))
	for _, e := range all {
		s += fmt.Sprintf("\n  %s %s %v", e.Kind, e.Sev, e.Data)
	}
	return s
}
