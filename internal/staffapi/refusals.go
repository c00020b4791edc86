package staffapi

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Anonymous refusals (a setup or login refused, a websocket without a session
// or from a browser) are audited, but not one row each: a flood of them would
// fill the disk and bury the refusals that matter. In each RefusalWindow the
// first refusal of a source (remote address) and action is written as it
// happens (for each actor it names: the user name tried); the rest are counted
// in memory and written as one summary row when the window ends. At most
// MaxRefusalSources source and actor pairs are told apart in a window; any
// further refusals are summed under source "other". So anonymous refusals add
// at most 2 × (MaxRefusalSources + 1) rows per action per window, whatever the
// flood. (Wrong passwords and codes for an existing account are not anonymous:
// each is audited with the account's lockout, by the store or, from the hub's
// own machine, by localFailure, bounded by the per-name rate limit of each.)
const (
	RefusalWindow     = time.Minute
	MaxRefusalSources = 100
)

// refusals counts the anonymous refusals of the current window.
type refusals struct {
	mu    sync.Mutex
	start time.Time                    // the window's start; guarded by mu
	seen  map[refusalKey]*refusalTally // guarded by mu
}

type refusalKey struct {
	source string // remote address, or "other"
	actor  string
	action protocol.AuditAction
}

type refusalTally struct {
	more int    // refusals after the first, not yet written
	last string // the last one's result
}

// summary is an audit row to write for a window that ended.
type summary struct {
	actor  string
	action protocol.AuditAction
	detail map[string]string
}

// note counts one refusal at now. It returns the summaries of a window that
// has ended, and whether this refusal is to be written itself.
func (r *refusals) note(now time.Time, source, actor string, action protocol.AuditAction, result string) ([]summary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var due []summary
	if r.seen == nil || now.Sub(r.start) >= RefusalWindow || now.Before(r.start) {
		due = r.takeLocked()
		r.start = now
	}
	k := refusalKey{source, actor, action}
	if r.seen[k] == nil && len(r.seen) >= MaxRefusalSources {
		k = refusalKey{"other", "anyone", action}
	}
	t := r.seen[k]
	if t == nil {
		r.seen[k] = &refusalTally{}
		return due, true
	}
	t.more++
	t.last = result
	return due, false
}

// flush ends the window: it returns the summaries of what was counted.
func (r *refusals) flush() []summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.takeLocked()
}

func (r *refusals) takeLocked() []summary {
	var out []summary
	for k, t := range r.seen {
		if t.more == 0 {
			continue
		}
		out = append(out, summary{actor: k.actor, action: k.action, detail: map[string]string{
			protocol.AuditKeyRemote: k.source,
			protocol.AuditKeyResult: "refused " + strconv.Itoa(t.more) + " more times within " + RefusalWindow.String() + " (last: " + t.last + ")",
			protocol.AuditKeyCount:  strconv.Itoa(t.more),
		}})
	}
	r.seen = map[refusalKey]*refusalTally{}
	return out
}

// auditRefusal audits an anonymous refusal from ip within the bound above.
// detail carries the result ("refused: ...").
func (srv *Server) auditRefusal(ctx context.Context, ip, actor string, action protocol.AuditAction, detail map[string]string) {
	due, write := srv.refusals.note(srv.now(), ip, actor, action, detail[protocol.AuditKeyResult])
	srv.writeSummaries(ctx, due)
	if write {
		srv.audit(ctx, actor, action, "", detail)
	}
}

func (srv *Server) writeSummaries(ctx context.Context, due []summary) {
	for _, s := range due {
		srv.audit(ctx, s.actor, s.action, "", s.detail)
	}
}
