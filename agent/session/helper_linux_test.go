//go:build linux

package session

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The helper is this test binary started inside an nspawn container with
// helperEnv set. It runs a real Manager (real watcher, real controller; printing
// wiper, sink and power), prints one JSON line per thing it sees on stdout, and
// carries out one JSON command per stdin line. It stops at the end of stdin.
const helperEnv = "CARREL_SESSION_HELPER"

type helperLine struct {
	T      string            `json:"t"` // ready, state, event, wipe, power, result
	State  string            `json:"state,omitempty"`
	Kind   string            `json:"kind,omitempty"`
	Data   map[string]string `json:"data,omitempty"`
	User   string            `json:"user,omitempty"`
	Output string            `json:"output,omitempty"`
	Error  string            `json:"error,omitempty"`
	PID    int               `json:"pid,omitempty"`
}

type helperCommand struct {
	Action protocol.Action   `json:"action"`
	Args   map[string]string `json:"args"`
}

type helperOut struct {
	mu sync.Mutex // serialises lines
}

func (o *helperOut) print(l helperLine) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, _ := json.Marshal(l)
	os.Stdout.Write(append(b, '\n'))
}

type printWiper struct{ out *helperOut }

func (w printWiper) Wipe(ctx context.Context, u User) error {
	w.out.print(helperLine{T: "wipe", User: u.Name})
	return nil
}

type printSink struct{ out *helperOut }

func (s printSink) Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error {
	s.out.print(helperLine{T: "event", Kind: string(kind), Data: data})
	return nil
}

type printPower struct{ out *helperOut }

func (p printPower) Reboot(context.Context) error {
	p.out.print(helperLine{T: "power", Kind: "reboot"})
	return nil
}

func (p printPower) Shutdown(context.Context) error {
	p.out.print(helperLine{T: "power", Kind: "shutdown"})
	return nil
}

// readyWatcher prints "ready" when the real watcher has listed the open sessions.
type readyWatcher struct {
	Watcher
	ready func()
}

func (w readyWatcher) Run(ctx context.Context, fn func(Event)) error {
	return w.Watcher.Run(ctx, func(ev Event) {
		fn(ev)
		if ev.Kind == 0 {
			w.ready()
		}
	})
}

// noHold is a controller whose account hold does nothing, to test the backstop.
type noHold struct{ Controller }

func (noHold) HoldLogons(context.Context, []string, bool) error { return ErrNotImplemented }

func runHelper() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out := &helperOut{}
	cfg := DefaultConfig()
	cfg.PatronUsers = strings.Fields(os.Getenv("CARREL_PATRONS"))
	cfg.StaffUsers = strings.Fields(os.Getenv("CARREL_STAFF"))
	cfg.PatronGroup = os.Getenv("CARREL_GROUP")
	// The production watcher: logind here, since the container has a system bus.
	w := NewWatcher(cfg, log)
	var m *Manager
	ready := func() {
		st, _ := m.Current()
		out.print(helperLine{T: "ready", State: string(st), PID: os.Getpid()})
	}
	ctl := NewController(log)
	if os.Getenv("CARREL_NO_HOLD") != "" {
		ctl = noHold{ctl}
	}
	m, err := New(Options{Config: cfg, Log: log, Watcher: readyWatcher{w, ready}, Wiper: printWiper{out},
		Controller: ctl, Power: printPower{out}, Sink: printSink{out}, StateDir: os.Getenv("CARREL_STATE")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.Changes():
				st, _ := m.Current()
				out.print(helperLine{T: "state", State: string(st)})
			}
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var c helperCommand
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			out.print(helperLine{T: "result", Error: "bad command: " + err.Error()})
			continue
		}
		h := m.Handlers()[c.Action]
		if h == nil {
			out.print(helperLine{T: "result", Error: "no handler for " + string(c.Action)})
			continue
		}
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		o, err := h(cctx, c.Args)
		ccancel()
		l := helperLine{T: "result", Output: o}
		if err != nil {
			l.Error = err.Error()
		}
		out.print(l)
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
