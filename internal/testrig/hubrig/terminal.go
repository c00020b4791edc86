package hubrig

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/agent/outbox"
	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// Command is a command a terminal carried out (its handler ran).
type Command struct {
	Action protocol.Action
	Args   map[string]string
}

// Terminal is an enrolled terminal: the agent's link client and outbox, with
// the test's status and command handlers. Its methods are safe for concurrent
// use.
type Terminal struct {
	ID   string // the ID the hub gave it
	Name string // its host name, which the hub uses as its name

	r     *Rig
	dir   string
	ob    *outbox.Outbox
	nudge chan struct{} // capacity 1: compare the status now

	mu       sync.Mutex // guards the fields below
	status   protocol.Status
	answer   func(protocol.Action, map[string]string) (string, error)
	cmds     []Command
	welcomes int
	cancel   context.CancelFunc // stops the running link; nil while disconnected
	done     chan struct{}      // closed when the running link's Run returns
	closed   bool
}

// AddTerminal enrolls a terminal named name with the hub (link.Enroll with a
// one-use token), connects it reporting st and waits for the hub's Welcome.
// Fields a status must have default to Hostname name, OS "linux",
// AgentVersion "hubrig" and Session free.
func (r *Rig) AddTerminal(t testing.TB, name string, st protocol.Status) *Terminal {
	t.Helper()
	dir, err := r.dirFor(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	id, err := link.Enroll(ctx, link.EnrollOptions{HubURL: r.AgentURL(), Token: r.Token(t, 1), Fingerprint: r.Fingerprint(),
		StateDir: dir, Hostname: name, Timeout: Wait})
	if err != nil {
		t.Fatalf("hubrig: enroll %s: %v", name, err)
	}
	ob, err := outbox.Open(dir, outbox.Options{MaxEvents: 10000, MaxBytes: 4 << 20, Log: r.log})
	if err != nil {
		t.Fatalf("hubrig: outbox of %s: %v", name, err)
	}
	if st.Hostname == "" {
		st.Hostname = name
	}
	if st.OS == "" {
		st.OS = "linux"
	}
	if st.AgentVersion == "" {
		st.AgentVersion = "hubrig"
	}
	if st.Session == "" {
		st.Session = protocol.SessionFree
	}
	x := &Terminal{ID: id.TerminalID, Name: name, r: r, dir: dir, ob: ob, nudge: make(chan struct{}, 1), status: st}
	r.mu.Lock()
	r.terms = append(r.terms, x)
	r.mu.Unlock()
	x.Connect(t)
	return x
}

// Collect is the terminal's link.StatusSource: the status the test set.
func (x *Terminal) Collect(context.Context) protocol.Status {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.status
}

// Status is the status the terminal reports.
func (x *Terminal) Status() protocol.Status { return x.Collect(context.Background()) }

// SetStatus changes the status the terminal reports; a connected terminal
// sends it at once.
func (x *Terminal) SetStatus(change func(*protocol.Status)) {
	x.mu.Lock()
	change(&x.status)
	x.mu.Unlock()
	select {
	case x.nudge <- struct{}{}:
	default:
	}
}

// Answer sets how the terminal answers commands: the output, or an error the
// link reports as a Result with OK false. The default answers every action
// OK with "<action> done".
func (x *Terminal) Answer(fn func(protocol.Action, map[string]string) (string, error)) {
	x.mu.Lock()
	x.answer = fn
	x.mu.Unlock()
}

// Commands are the commands the terminal carried out so far, in order.
func (x *Terminal) Commands() []Command {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.cmds)
}

// Emit appends an event to the terminal's outbox (the link sends it) and
// returns its sequence number; see Rig.EventID for the hub's ID.
func (x *Terminal) Emit(t testing.TB, kind protocol.EventKind, sev protocol.Severity, data map[string]string) uint64 {
	t.Helper()
	seq := x.ob.NextSeq()
	if err := x.ob.Emit(kind, sev, data); err != nil {
		t.Fatalf("hubrig: emit %s on %s: %v", kind, x.Name, err)
	}
	return seq
}

func (x *Terminal) handler(a protocol.Action) protocol.CommandHandler {
	return func(_ context.Context, args map[string]string) (string, error) {
		x.mu.Lock()
		x.cmds = append(x.cmds, Command{Action: a, Args: maps.Clone(args)})
		answer := x.answer
		x.mu.Unlock()
		if answer == nil {
			return string(a) + " done", nil
		}
		return answer(a, args)
	}
}

// Connect starts the terminal's link (a new link client, as an agent that
// restarts) and waits for the hub's Welcome. It does nothing if the terminal
// is connected.
func (x *Terminal) Connect(t testing.TB) {
	t.Helper()
	x.mu.Lock()
	if x.cancel != nil || x.closed {
		x.mu.Unlock()
		return
	}
	before := x.welcomes
	x.mu.Unlock()
	cl, err := link.New(link.Options{
		HubURL: x.r.AgentURL(), StateDir: x.dir, Outbox: x.ob, Status: x, Log: x.r.log,
		Changed:     func(prev, cur protocol.Status) bool { return !reflect.DeepEqual(prev, cur) },
		StatusNudge: x.nudge,
		// Quick redials, so a test that restarts or cuts the hub does not wait.
		Backoff:  backoff.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		Commands: x.handler,
		OnWelcome: func(protocol.Welcome) {
			x.mu.Lock()
			x.welcomes++
			x.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("hubrig: link of %s: %v", x.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	x.mu.Lock()
	x.cancel, x.done = cancel, done
	x.mu.Unlock()
	go func() {
		defer close(done)
		cl.Run(ctx)
	}()
	testbin.WaitFor(t, Wait, fmt.Sprintf("the hub to welcome %s", x.Name), func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.welcomes > before
	})
}

// StateDir is the terminal's agent state directory (identity, certificate,
// outbox).
func (x *Terminal) StateDir() string { return x.dir }

// Disconnect stops the terminal's link, as an agent that stops, and waits
// until the hub has recorded it offline.
func (x *Terminal) Disconnect(t testing.TB) {
	t.Helper()
	x.stopLink()
	testbin.WaitFor(t, Wait, fmt.Sprintf("the hub to record %s offline", x.Name), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		st, err := x.r.hub.Store().Terminal(ctx, x.ID)
		return err == nil && !st.Online
	})
}

func (x *Terminal) stopLink() {
	x.mu.Lock()
	cancel, done := x.cancel, x.done
	x.cancel, x.done = nil, nil
	x.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// shutdown stops the link for good and closes the outbox (Rig.Stop).
func (x *Terminal) shutdown() {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
	x.stopLink()
	x.ob.Close()
}
