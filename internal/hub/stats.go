package hub

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// Usage counters (DESIGN.md, "Reports, retention and the API"). The hub
// decides what an agent's event counts for as it reads the event (countsFor),
// and the counts travel with the event to the store writer: they are bumped
// in the transaction that stores the event, and only if it is new, so an
// event re-sent after a lost ack is counted once. The branch is the one the
// terminal is in when the count is written.

// maxClockAhead is how far into the future an agent's event time may be
// before the hub counts the event at its own time (a PC whose clock is off).
const maxClockAhead = 10 * time.Minute

// countsFor is what an agent's event counts for. Only the connection's reader
// goroutine calls it (it keeps the connection's session starts).
func (h *Hub) countsFor(c *agentConn, m *protocol.Event) []store.Count {
	now := time.Now()
	at := m.Time
	if at.IsZero() || at.After(now.Add(maxClockAhead)) {
		at = now
	}
	one := func(metric protocol.Metric, label string, n int64) store.Count {
		return store.Count{Metric: metric, Label: label, Terminal: c.id, Time: at, N: n}
	}
	d := m.Data
	switch m.Kind {
	case protocol.EventSessionStarted:
		if id := d[protocol.DataSession]; id != "" {
			if c.sessions == nil {
				c.sessions = map[string]time.Time{}
			}
			if len(c.sessions) > 64 { // ends lost with a crash: never more than a few
				clear(c.sessions)
			}
			c.sessions[id] = at
		}
		return []store.Count{one(protocol.MetricSessions, patronKind(d), 1)}
	case protocol.EventSessionEnded:
		secs, ok := h.sessionSeconds(c, d, at)
		if !ok {
			return nil
		}
		return []store.Count{one(protocol.MetricMinutes, patronKind(d), (secs+30)/60)}
	case protocol.EventWipeDone:
		out := []store.Count{one(protocol.MetricWipes, protocol.LabelClean, 1)}
		if ms, err := strconv.ParseInt(d[protocol.DataMsReady], 10, 64); err == nil && ms >= 0 && ms < int64(24*time.Hour/time.Millisecond) {
			out = append(out, one(protocol.MetricWipeReadyMS, "", ms))
		}
		return out
	case protocol.EventWipeDirty:
		return []store.Count{one(protocol.MetricWipes, protocol.LabelDirty, 1)}
	case protocol.EventDownloadBlocked:
		return []store.Count{one(protocol.MetricBlocked, protocol.BlockedKind(protocol.ParseDownloadBlocked(d)), 1)}
	case protocol.EventExecBlocked:
		return []store.Count{one(protocol.MetricExecBlocked, "", 1)}
	}
	return nil
}

// patronKind is a session event's label: card or guest when it was signed in,
// "" for an OS logon without sign-in (or a kind this hub does not know).
func patronKind(d map[string]string) string {
	switch k := protocol.PatronKind(d[protocol.DataKind]); k {
	case protocol.PatronCard, protocol.PatronGuest:
		return string(k)
	}
	return ""
}

// maxSession bounds a session's counted length: a day (a start whose end was
// lost, a clock that jumped, must not count a year of minutes).
const maxSession = 24 * 60 * 60

// sessionSeconds is how long the session a session.ended closes ran: what the
// agent reported (DataUsed), else from its start as this connection saw it,
// else as the store still has it.
func (h *Hub) sessionSeconds(c *agentConn, d map[string]string, end time.Time) (int64, bool) {
	if s, err := strconv.ParseInt(d[protocol.DataUsed], 10, 64); err == nil && s >= 0 {
		return min(s, maxSession), true
	}
	id := d[protocol.DataSession]
	if id == "" {
		return 0, false
	}
	start, ok := c.sessions[id]
	delete(c.sessions, id)
	if !ok {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		var err error
		if start, ok, err = h.store.SessionStarted(ctx, c.id, id); err != nil {
			h.log.Warn("Session start lookup failed; its minutes are not counted", "terminal", c.id, "err", err)
		}
	}
	if !ok || end.Before(start) {
		return 0, false
	}
	return min(int64(end.Sub(start)/time.Second), maxSession), true
}

// Count counts something the hub itself saw (a sign-in granted or refused, a
// guest pass made) at a terminal ("" for none: counted in no branch): it is
// written with the store writer's next commit, within StatusFlush.
func (h *Hub) Count(metric protocol.Metric, label, terminal string, n int64) {
	if n == 0 {
		return
	}
	h.countMu.Lock()
	h.counts = append(h.counts, store.Count{Metric: metric, Label: label, Terminal: terminal, Time: time.Now(), N: n})
	h.countMu.Unlock()
}

// takeCounts empties the hub's own counts waiting to be written.
func (h *Hub) takeCounts() []store.Count {
	h.countMu.Lock()
	defer h.countMu.Unlock()
	out := h.counts
	h.counts = nil
	return out
}

// Report adds up the counts for a report, in the hub's time zone.
func (h *Hub) Report(ctx context.Context, a protocol.ReportArgs) (protocol.Report, error) {
	return h.store.Report(ctx, a, h.cfg.Zone)
}

// IMLS is a year's IMLS survey figures, in the hub's time zone.
func (h *Hub) IMLS(ctx context.Context, year int) (protocol.IMLS, error) {
	return h.store.IMLS(ctx, year, h.cfg.Zone)
}

// prune deletes what retention keeps no longer (store.RetentionRules) and logs
// what went.
func (h *Hub) prune(ctx context.Context) {
	n, err := h.store.Prune(ctx, map[store.RetentionClass]time.Duration{store.KeepEvents: h.cfg.KeepEvents, store.KeepSessions: h.cfg.KeepSessions})
	for what, k := range n {
		if k > 0 {
			h.log.Info("Old data deleted", "what", what, "rows", k)
		}
	}
	if err != nil && ctx.Err() == nil {
		h.log.Error("Retention failed", "err", err)
	}
}

// apiCounts serves the read-only API's /counts from the usage counters: the
// report's rows, in the hub's time zone.
type apiCounts struct{ h *Hub }

func (c apiCounts) Counts(ctx context.Context, from, to time.Time, by, branch string) ([]protocol.APICount, error) {
	r, err := c.h.Report(ctx, protocol.ReportArgs{From: from, To: to, By: protocol.Period(by), Branch: branch})
	if err != nil {
		return nil, err
	}
	out := make([]protocol.APICount, 0, len(r.Rows))
	for _, row := range r.Rows {
		out = append(out, protocol.APICount{Start: row.Start, Branch: branch, Metric: row.Metric, Label: row.Label, Value: row.N})
	}
	return out, nil
}

// ilsReady is /readyz's ILS check: an error unless the last exchange with
// the ILS worked (or it was not asked yet).
func (h *Hub) ilsReady(context.Context) error {
	switch l := h.ILSLink(); l.State {
	case protocol.ILSUp, protocol.ILSUnknown:
		return nil
	default:
		return fmt.Errorf("the ILS link is %s: %s", l.State, l.LastError)
	}
}
