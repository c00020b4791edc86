package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// HelperArg is the carrel-agent subcommand that runs the session helper.
const HelperArg = "session-helper"

// HelperMain runs the session helper: it reads Commands from in, shows them on
// the X display named by $DISPLAY, and writes Reports to out; diagnostics go to
// errw. It returns the process exit code: 0 when in closed or the state became
// empty, 1 when the display failed or was lost (the service starts a new
// helper), 2 when the first line could not be read.
func HelperMain(ctx context.Context, in io.Reader, out, errw io.Writer) int {
	harden()
	h := &helperIO{cmds: make(chan Command, 1), eof: make(chan struct{}), out: out, errw: errw}
	go h.read(in)
	var first Command
	select {
	case <-ctx.Done():
		return 0
	case <-h.eof:
		return 0
	case first = <-h.cmds:
	}
	if first.Empty() {
		return 0
	}
	if err := runUI(ctx, h, first); err != nil {
		fmt.Fprintf(errw, "carrel-agent session-helper: %v\n", err)
		return 1
	}
	return 0
}

// helperIO is the helper's side of the pipes.
type helperIO struct {
	cmds chan Command  // cap 1: the latest command wins
	eof  chan struct{} // closed when stdin ends
	errw io.Writer
	mu   sync.Mutex // serialises writes to out
	out  io.Writer
	dead bool // out failed: the service is gone
}

// read decodes commands until in ends. A bad line is logged and skipped: the
// next good line carries the whole state again.
func (h *helperIO) read(in io.Reader) {
	defer close(h.eof)
	lr := NewLineReader(in)
	for {
		line, err := lr.Next()
		if errors.Is(err, ErrLineTooLong) {
			fmt.Fprintln(h.errw, "carrel-agent session-helper: command line too long; skipped")
			continue
		}
		if err != nil {
			return
		}
		c, err := DecodeCommand(line, time.Now())
		if err != nil {
			fmt.Fprintf(h.errw, "carrel-agent session-helper: %v; skipped\n", err)
			continue
		}
		select { // drop an unread older command: only the latest state matters
		case <-h.cmds:
		default:
		}
		h.cmds <- c
	}
}

// report writes one report line; it returns false once the service is gone.
func (h *helperIO) report(r Report) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dead {
		return false
	}
	line := encodeLine(r)
	if _, err := h.out.Write(line); err != nil {
		h.dead = true
	}
	clear(line) // a sign-in's PIN was in it
	return !h.dead
}
