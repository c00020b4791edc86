package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// maintenance is the PC's maintenance window (protocol/maintenance.go): the
// guards paused until it ends. It is timed on the monotonic clock from the
// seconds the hub sent (time.AfterFunc), so a wall-clock change during the
// window neither lengthens nor shortens it. Nothing of it is kept on disk:
// a crash or reboot starts the agent armed, and the hub sends a window still
// open again when the PC reports none.
type maintenance struct {
	pausers []func(bool) // the guards' SetPaused
	status  *status.Collector
	log     *slog.Logger

	mu    sync.Mutex  // guards timer and until
	timer *time.Timer // ends the window; nil when armed
	until time.Time
}

// handler is ActionMaintenance.
func (m *maintenance) handler() protocol.CommandHandler {
	return func(_ context.Context, args map[string]string) (string, error) {
		d, until, err := protocol.ParseMaintenanceArgs(args)
		if err != nil {
			return "", err
		}
		if d == 0 {
			m.end("ended by the hub")
			return "guards re-armed", nil
		}
		m.begin(d, until)
		return protocol.MaintenanceText(until), nil
	}
}

func (m *maintenance) begin(d time.Duration, until time.Time) {
	m.mu.Lock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = time.AfterFunc(d, func() { m.end("time up") })
	first := m.until.IsZero()
	m.until = until
	m.mu.Unlock()
	if first {
		m.set(true)
	}
	m.status.SetMaintenanceUntil(until)
	m.log.Info("Maintenance window: guards paused", "until", until, "for", d.String())
}

func (m *maintenance) end(why string) {
	m.mu.Lock()
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	was := !m.until.IsZero()
	m.until = time.Time{}
	m.mu.Unlock()
	if !was {
		return
	}
	m.set(false)
	m.status.SetMaintenanceUntil(time.Time{})
	m.log.Info("Maintenance window over: guards re-armed", "why", why)
}

func (m *maintenance) set(paused bool) {
	for _, p := range m.pausers {
		p(paused)
	}
}

// run re-arms the guards when the agent stops.
func (m *maintenance) run(ctx context.Context) error {
	<-ctx.Done()
	m.end("agent stopping")
	return nil
}
