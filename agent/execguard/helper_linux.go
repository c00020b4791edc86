//go:build linux

package execguard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// helperRequest is one line the agent writes to the helper's stdin.
type helperRequest struct {
	Roots []string `json:"roots"`
}

// helperMessage is one line the helper writes to its stdout: an answer to a
// request (Applied) or a denied exec.
type helperMessage struct {
	Applied bool    `json:"applied,omitempty"`
	Error   string  `json:"error,omitempty"`
	Denied  *denial `json:"denied,omitempty"`
	Dropped uint64  `json:"dropped,omitempty"`
}

// HelperMain runs the fanotify decision loop in a process of its own that never
// forks (see fanotifyGroup). It reads root sets from stdin, one JSON object a
// line, answers each with {"applied":true} once the marks are in place, and
// writes denied execs to stdout. It returns (the process should exit with the
// code) when stdin closes, that is when the agent stops or dies; the group
// closes with it and the kernel allows whatever was waiting.
func HelperMain(stdin io.Reader, stdout io.Writer) int {
	g, err := newFanotifyGroup()
	out := json.NewEncoder(stdout)
	var outMu sync.Mutex // one writer at a time on stdout
	send := func(m helperMessage) {
		outMu.Lock()
		out.Encode(m)
		outMu.Unlock()
	}
	if err != nil {
		send(helperMessage{Error: err.Error()})
		return 1
	}
	loopErr := make(chan error, 1)
	go func() { loopErr <- g.loop() }()
	go func() {
		for d := range g.reports {
			send(helperMessage{Denied: &d, Dropped: g.dropped.Swap(0)})
		}
	}()
	reqs := make(chan helperRequest)
	go func() {
		defer close(reqs)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var r helperRequest
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				send(helperMessage{Error: "bad request: " + err.Error()})
				continue
			}
			reqs <- r
		}
	}()
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				g.file.Close()
				return 0
			}
			m := helperMessage{Applied: true}
			if err := g.mark(r.Roots); err != nil {
				m.Error = err.Error()
			}
			send(m)
		case err := <-loopErr:
			send(helperMessage{Error: err.Error()})
			return 1
		}
	}
}

// helperEnforcer is the agent's side of the helper: it starts the helper,
// sends it root sets, restarts it if it dies, and reports its denials.
type helperEnforcer struct {
	log  *slog.Logger
	sink EventSink
	argv []string

	mu      sync.Mutex // protects stdin, acks, roots, exited
	stdin   io.WriteCloser
	acks    chan helperMessage
	roots   []string
	exited  chan struct{} // closed when the current helper is gone
	cmd     *exec.Cmd
	started bool
}

var _ Enforcer = (*helperEnforcer)(nil)

// NewEnforcer starts the fanotify helper: this binary run with HelperArg. It
// needs CAP_SYS_ADMIN.
func NewEnforcer(sink EventSink, log *slog.Logger) (Enforcer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start exec guard helper: %w", err)
	}
	e := &helperEnforcer{log: log, sink: sink, argv: []string{exe, HelperArg}}
	if err := e.start(); err != nil {
		return nil, err
	}
	// Fail at once where fanotify is refused (no privilege, no kernel support).
	if err := e.Apply(nil); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *helperEnforcer) start() error {
	cmd := exec.Command(e.argv[0], e.argv[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("start exec guard helper: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start exec guard helper: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start exec guard helper: %w", err)
	}
	acks := make(chan helperMessage, 4)
	exited := make(chan struct{})
	e.mu.Lock()
	e.cmd, e.stdin, e.acks, e.exited = cmd, stdin, acks, exited
	e.mu.Unlock()
	go func() {
		e.readMessages(stdout, acks)
		cmd.Wait()
		close(exited)
	}()
	return nil
}

// readMessages demultiplexes the helper's stdout: answers to acks, denials to
// the sink (at most one per path every 10s, so a patron double-clicking does
// not flood the hub).
func (e *helperEnforcer) readMessages(r io.Reader, acks chan<- helperMessage) {
	last := map[string]time.Time{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m helperMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			e.log.Warn("Bad message from exec guard helper", "err", err)
			continue
		}
		if m.Denied == nil {
			select {
			case acks <- m:
			default:
				if m.Error != "" {
					e.log.Error("Exec guard helper", "err", m.Error)
				}
			}
			continue
		}
		d := *m.Denied
		now := time.Now()
		if t, ok := last[d.Path]; ok && now.Sub(t) < 10*time.Second {
			continue
		}
		last[d.Path] = now
		if len(last) > 1024 {
			clear(last)
		}
		data := map[string]string{protocol.DataPath: d.Path, protocol.DataName: baseName(d.Path), protocol.DataPID: strconv.Itoa(int(d.PID))}
		if m.Dropped > 0 {
			data[protocol.DataDropped] = strconv.FormatUint(m.Dropped, 10)
		}
		e.log.Info("Exec denied", "path", d.Path, "pid", d.PID)
		if err := e.sink.Emit(protocol.EventExecBlocked, protocol.SeverityAlert, data); err != nil {
			e.log.Error("Report denied exec", "err", err)
		}
	}
}

// Apply sends the roots to the helper and waits until its marks are in place.
func (e *helperEnforcer) Apply(roots []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.roots = roots
	return e.applyLocked()
}

func (e *helperEnforcer) applyLocked() error {
	line, _ := json.Marshal(helperRequest{Roots: e.roots})
	if _, err := e.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("send roots to exec guard helper: %w", err)
	}
	select {
	case m := <-e.acks:
		if m.Error != "" {
			return fmt.Errorf("exec guard helper: %s", m.Error)
		}
		return nil
	case <-e.exited:
		return errors.New("exec guard helper exited")
	case <-time.After(10 * time.Second):
		return errors.New("exec guard helper did not answer within 10s")
	}
}

// Run keeps the helper alive until ctx is done: if it dies it is restarted
// (at most once a second) with the current roots, and the loss is reported.
func (e *helperEnforcer) Run(ctx context.Context) error {
	for {
		e.mu.Lock()
		exited := e.exited
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			e.stop()
			return nil
		case <-exited:
		}
		e.log.Error("Exec guard helper exited, restarting")
		e.sink.Emit(protocol.EventExecGuardError, protocol.SeverityWarn, map[string]string{protocol.DataError: "exec guard helper exited; restarted"})
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if err := e.start(); err != nil {
			e.log.Error("Restart exec guard helper", "err", err)
			continue
		}
		e.mu.Lock()
		err := e.applyLocked()
		e.mu.Unlock()
		if err != nil {
			e.log.Error("Re-apply exec rules", "err", err)
		}
	}
}

// stop closes the helper's stdin and waits for it; it kills it after 5s.
func (e *helperEnforcer) stop() {
	e.mu.Lock()
	stdin, exited, cmd := e.stdin, e.exited, e.cmd
	e.mu.Unlock()
	stdin.Close()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Remove does nothing: fanotify marks go with the helper.
func (e *helperEnforcer) Remove() error { return nil }
