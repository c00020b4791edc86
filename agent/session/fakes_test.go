package session

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeWatcher hands events from the test to the Manager.
type fakeWatcher struct {
	initial []Session
	events  chan Event
	runs    chan struct{} // receives after each Run reported its initial list
	fail    chan error    // a value makes the current Run return it
}

func newFakeWatcher(initial ...Session) *fakeWatcher {
	return &fakeWatcher{initial: initial, events: make(chan Event), runs: make(chan struct{}, 8), fail: make(chan error)}
}

func (w *fakeWatcher) Run(ctx context.Context, fn func(Event)) error {
	for _, s := range w.initial {
		fn(Event{Kind: Logon, Session: s, Initial: true})
	}
	fn(Event{})
	w.runs <- struct{}{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.fail:
			return err
		case ev := <-w.events:
			fn(ev)
		}
	}
}

// fakeWiper records wipes and answers with the next queued result (nil = clean).
type fakeWiper struct {
	mu      sync.Mutex
	results []error
	calls   []User
	block   chan struct{} // if non-nil, Wipe waits for it
	called  chan User
}

func newFakeWiper(results ...error) *fakeWiper {
	return &fakeWiper{results: results, called: make(chan User, 16)}
}

func (w *fakeWiper) Wipe(ctx context.Context, u User) error {
	w.called <- u
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, u)
	if len(w.results) == 0 {
		return nil
	}
	err := w.results[0]
	w.results = w.results[1:]
	return err
}

type fakeController struct {
	mu         sync.Mutex
	holds      []bool
	locked     []string
	terminated chan string
	messages   []string
	notices    []string
	failHold   error
	unlocked   []string
	countdowns []string
	ended      []string
	// noCountdown makes Countdown say ErrNotImplemented (a text session).
	noCountdown bool
	// probe is what probeLock answers (nil: back in 30 ms).
	probe  error
	probed []string
}

func (c *fakeController) probeLock(_ context.Context, s Session, _ time.Duration) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.probed = append(c.probed, s.ID)
	return 30 * time.Millisecond, c.probe
}

func newFakeController() *fakeController {
	return &fakeController{terminated: make(chan string, 16)}
}

func (c *fakeController) HoldLogons(ctx context.Context, accounts []string, hold bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failHold != nil {
		return c.failHold
	}
	c.holds = append(c.holds, hold)
	return nil
}

func (c *fakeController) LockSession(ctx context.Context, s Session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.locked = append(c.locked, s.ID)
	return nil
}

func (c *fakeController) UnlockSession(ctx context.Context, s Session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unlocked = append(c.unlocked, s.ID)
	return nil
}

func (c *fakeController) Countdown(ctx context.Context, s Session, deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noCountdown {
		return ErrNotImplemented
	}
	c.countdowns = append(c.countdowns, s.ID)
	return nil
}

func (c *fakeController) Ended(s Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = append(c.ended, s.ID)
}

func (c *fakeController) Terminate(ctx context.Context, s Session) error {
	c.terminated <- s.ID
	return nil
}

func (c *fakeController) Message(ctx context.Context, s Session, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.messages = append(c.messages, s.ID+": "+text)
	return nil
}

func (c *fakeController) Notice(ctx context.Context, s Session, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notices = append(c.notices, s.ID+": "+text)
	return nil
}

func (c *fakeController) lastHold() (bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.holds) == 0 {
		return false, false
	}
	return c.holds[len(c.holds)-1], true
}

type fakePower struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (p *fakePower) Reboot(context.Context) error   { return p.record("reboot") }
func (p *fakePower) Shutdown(context.Context) error { return p.record("shutdown") }
func (p *fakePower) record(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.calls = append(p.calls, s)
	return nil
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recv receives from ch, or fails t after 10 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

var errLeftovers = errors.New("verify: 2 leftovers in /home/patron1")
