package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// The audit chain's defences outside hub.db: every row carries a MAC under the
// audit key (a file apart from the database), and the hub signs the chain's
// head with its CA key and writes it where the database's holder cannot take
// it back: the hub's log (the journal or the Event Log) every AuditHeadEvery
// and at shutdown, each backup, each agent's Welcome and each console's
// hub.info. `carrel-hub audit verify` checks the chain against such heads.

// UseAuditKey loads the audit key at path into st, or makes one covering the
// rows the chain gets from now on (the rows of a database from before keys are
// only chained). The hub and every CLI command that writes audit rows use it.
func UseAuditKey(st *store.Store, path string) error {
	seq, _, err := st.AuditHead(context.Background())
	if err != nil {
		return err
	}
	k, err := store.LoadOrCreateAuditKey(path, seq+1)
	if err != nil {
		return err
	}
	if k.From > seq+1 {
		return fmt.Errorf("audit key %s covers rows from %d but the chain ends at row %d: hub.db is older than its key (restored from a backup?); restore the matching key or move it aside", path, k.From, seq)
	}
	st.SetAuditKey(k)
	return nil
}

// AuditHead is the audit chain's head now, signed with the hub's CA key.
func (h *Hub) AuditHead(ctx context.Context) (protocol.AuditHead, error) {
	seq, hash, err := h.store.AuditHead(ctx)
	if err != nil {
		return protocol.AuditHead{}, err
	}
	if hash == nil {
		hash = make([]byte, 32)
	}
	return h.ca.SignAuditHead(seq, hash, time.Now())
}

// recentAuditHead is a signed head at most 10 s old, for Welcome: a
// reconnecting fleet gets one signature every 10 s, not one per agent.
func (h *Hub) recentAuditHead(ctx context.Context) (string, error) {
	h.headMu.Lock()
	defer h.headMu.Unlock()
	if h.headText != "" && time.Since(h.headAt) < 10*time.Second {
		return h.headText, nil
	}
	head, err := h.AuditHead(ctx)
	if err != nil {
		return "", err
	}
	h.headText, h.headAt = head.String(), time.Now()
	return h.headText, nil
}

// auditHeads writes the signed head to the log every AuditHeadEvery in which
// the chain grew, until ctx ends.
func (h *Hub) auditHeads(ctx context.Context) {
	last := h.logAuditHead(ctx, "at start")
	t := time.NewTicker(h.cfg.AuditHeadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if seq, _, err := h.store.AuditHead(ctx); err == nil && seq != last {
				last = h.logAuditHead(ctx, "")
			}
		}
	}
}

// logAuditHead writes the signed head to the log and returns its row.
func (h *Hub) logAuditHead(ctx context.Context, when string) int64 {
	head, err := h.AuditHead(ctx)
	if err != nil {
		h.log.Error("Audit head not signed", "err", err)
		return -1
	}
	args := []any{"seq", head.Seq, "head", head.String()}
	if when != "" {
		args = append(args, "when", when)
	}
	h.log.Info("Audit head", args...)
	return head.Seq
}
