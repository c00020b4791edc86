package execguard

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ProcessWatcher kills processes whose executable lies under a root and
// reports each one as exec.killed. It is the only layer on macOS and the
// second line elsewhere (what SRP misses, what ran while the agent was down).
type ProcessWatcher struct {
	interval time.Duration
	sink     EventSink
	log      *slog.Logger
	self     int32
	roots    atomic.Pointer[rootSet]
	sweeps   atomic.Uint64 // completed sweeps, for tests and status
}

// NewProcessWatcher makes a watcher that looks at every process each interval.
func NewProcessWatcher(interval time.Duration, sink EventSink, log *slog.Logger) *ProcessWatcher {
	p := &ProcessWatcher{interval: interval, sink: sink, log: log, self: int32(os.Getpid())}
	p.roots.Store(newRootSet(nil))
	return p
}

// SetRoots replaces the roots; safe to call while Run runs.
func (p *ProcessWatcher) SetRoots(roots []string) { p.roots.Store(newRootSet(roots)) }

// Sweeps returns how many complete passes over the process table were made.
func (p *ProcessWatcher) Sweeps() uint64 { return p.sweeps.Load() }

// Run sweeps at once and then every interval until ctx is done.
func (p *ProcessWatcher) Run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *ProcessWatcher) sweep(ctx context.Context) {
	defer p.sweeps.Add(1)
	roots := p.roots.Load()
	if len(roots.roots) == 0 {
		return
	}
	pids, err := listPids(ctx)
	if err != nil {
		p.log.Warn("List processes", "err", err)
		return
	}
	for _, pid := range pids {
		if pid == p.self || pid <= 4 {
			continue
		}
		exe, err := processExe(pid)
		if err != nil || exe == "" {
			continue // gone, a kernel thread, or not ours to read
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if !roots.contains(exe) {
			continue
		}
		err = killIfExe(pid, exe)
		data := map[string]string{protocol.DataPath: exe, protocol.DataName: baseName(exe), protocol.DataPID: strconv.Itoa(int(pid))}
		if err != nil {
			p.log.Warn("Kill process from patron path", "pid", pid, "path", exe, "err", err)
			data[protocol.DataError] = err.Error()
		} else {
			p.log.Info("Killed process from patron path", "pid", pid, "path", exe)
		}
		if err := p.sink.Emit(protocol.EventExecKilled, protocol.SeverityAlert, data); err != nil {
			p.log.Error("Report killed process", "err", err)
		}
	}
}
