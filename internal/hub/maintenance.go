package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// MaintenanceTick is the default Config.MaintenanceTick.
const MaintenanceTick = 10 * time.Second

// maintSent is the window last sent to a PC, so that a PC that has not yet
// reported it is not sent it again on every tick.
type maintSent struct {
	until time.Time
	at    time.Time
}

// StartMaintenance opens a one-off window (protocol.ValidateWindow: a window
// whose end is not in the future is refused). A terminal window's Target may
// be the PC's name; it is stored as its ID. Windows that overlap are merged
// on the PCs they both cover (protocol.MaintenanceUntil). The PCs are told at
// once, not at the next tick.
func (h *Hub) StartMaintenance(ctx context.Context, w protocol.MaintenanceWindow, actor string) (protocol.MaintenanceWindow, error) {
	if w.Scope == protocol.ScopeTerminal && w.Target != "" {
		t, err := h.store.FindTerminal(ctx, w.Target)
		if err != nil {
			return w, fmt.Errorf("start maintenance: %w", err)
		}
		w.Target = t.ID
	}
	w, err := h.store.AddMaintenance(ctx, w, actor)
	if err != nil {
		return w, err
	}
	h.log.Info("Maintenance window opened", "id", w.ID, "scope", w.Scope, "target", w.Target, "end", w.End, "by", actor)
	h.reconcileMaintenance(ctx, time.Now())
	return w, nil
}

// EndMaintenance ends a one-off window early; the PCs it alone covered are
// re-armed at once.
func (h *Hub) EndMaintenance(ctx context.Context, id int64, actor string) error {
	if err := h.store.EndMaintenance(ctx, id, actor, "ended by hand"); err != nil {
		return err
	}
	h.log.Info("Maintenance window ended", "id", id, "by", actor)
	h.reconcileMaintenance(ctx, time.Now())
	return nil
}

// Maintenance lists the open windows (and those ended in the last day), the
// recurring occurrences open now, and the schedules.
func (h *Hub) Maintenance(ctx context.Context) (protocol.MaintenanceList, error) {
	now := time.Now()
	ws, err := h.store.MaintenanceWindows(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return protocol.MaintenanceList{}, err
	}
	scs, err := h.store.MaintenanceSchedules(ctx)
	if err != nil {
		return protocol.MaintenanceList{}, err
	}
	for _, sc := range scs {
		for _, o := range sc.Occurrences(now) {
			if o.Open(now) {
				ws = append(ws, o)
			}
		}
	}
	return protocol.MaintenanceList{Windows: ws, Schedules: scs}, nil
}

// ScheduleMaintenance adds or removes a branch's recurring window.
func (h *Hub) ScheduleMaintenance(ctx context.Context, a protocol.MaintenanceScheduleArgs, actor string) error {
	if err := h.store.SetMaintenanceSchedule(ctx, a.MaintenanceSchedule, a.Remove, actor); err != nil {
		return err
	}
	h.reconcileMaintenance(ctx, time.Now())
	return nil
}

// reconcileMaintenance ends (and audits) the one-off windows whose time is
// up, audits recurring occurrences as they open and close, and sends every
// online PC whose reported MaintenanceUntil differs from what the windows say
// the window it is in, or its end. That is also how a PC that restarted
// during a window (it starts armed) gets the window again.
func (h *Hub) reconcileMaintenance(ctx context.Context, now time.Time) {
	list, err := h.Maintenance(ctx)
	if err != nil {
		h.log.Error("Maintenance windows not read", "err", err)
		return
	}
	var ws []protocol.MaintenanceWindow
	for _, w := range list.Windows {
		if w.EndedAt.IsZero() && !w.Recurring && !now.Before(w.End) {
			if err := h.store.EndMaintenance(ctx, w.ID, "hub", "time up"); err != nil && !errors.Is(err, store.ErrWindowUnknown) {
				h.log.Error("Maintenance window not ended", "id", w.ID, "err", err)
			}
			continue
		}
		ws = append(ws, w)
	}
	h.auditOccurrences(ctx, ws, now)
	all, err := h.Terminals(ctx)
	if err != nil {
		h.log.Error("Terminals not read", "err", err)
		return
	}
	h.maintMu.Lock()
	if h.maintSent == nil {
		h.maintSent = map[string]maintSent{}
	}
	type send struct {
		id    string
		until time.Time
	}
	var sends []send
	for _, v := range all {
		if !v.Online || v.Revoked || v.Status == nil {
			delete(h.maintSent, v.ID)
			continue
		}
		want := protocol.MaintenanceUntil(ws, v.ID, v.Branch, now)
		have := v.Status.MaintenanceUntil
		if want.Equal(have) || (!want.IsZero() && !have.IsZero() && absDur(want.Sub(have)) < 2*time.Second) {
			delete(h.maintSent, v.ID)
			continue
		}
		if s, ok := h.maintSent[v.ID]; ok && s.until.Equal(want) && now.Sub(s.at) < 3*h.cfg.MaintenanceTick {
			continue // sent; the PC's status has not caught up yet
		}
		h.maintSent[v.ID] = maintSent{until: want, at: now}
		sends = append(sends, send{v.ID, want})
	}
	h.maintMu.Unlock()
	for _, s := range sends {
		go func() {
			c, cancel := context.WithTimeout(ctx, h.cfg.CommandTTL)
			defer cancel()
			res, err := h.SendCommand(c, s.id, protocol.ActionMaintenance, protocol.MaintenanceArgs(s.until, time.Now()), "hub")
			if err != nil || !res.OK {
				h.log.Warn("Maintenance not applied on PC", "terminal", s.id, "err", err, "result", res.Error)
			}
		}()
	}
}

// auditOccurrences audits each recurring occurrence when the hub first sees
// it open and when it is over.
func (h *Hub) auditOccurrences(ctx context.Context, ws []protocol.MaintenanceWindow, now time.Time) {
	open := map[string]bool{}
	for _, w := range ws {
		if w.Recurring {
			open[w.Target+" "+w.Start.Format(time.RFC3339)+" "+w.End.Format(time.RFC3339)] = true
		}
	}
	h.maintMu.Lock()
	prev := h.maintOpen
	h.maintOpen = open
	h.maintMu.Unlock()
	for k := range open {
		if !prev[k] {
			h.auditHub(ctx, protocol.AuditMaintenanceStart, k, "recurring window open")
		}
	}
	for k := range prev {
		if !open[k] {
			h.auditHub(ctx, protocol.AuditMaintenanceEnd, k, "recurring window over")
		}
	}
}

func (h *Hub) auditHub(ctx context.Context, a protocol.AuditAction, target, result string) {
	if err := h.store.Audit(ctx, "hub", a, protocol.Clip(target, 128), map[string]string{protocol.AuditKeyResult: result}); err != nil {
		h.log.Error("Audit failed", "err", err)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
