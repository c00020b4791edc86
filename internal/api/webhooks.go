package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// Webhooks: the hub POSTs every feed event (the same JSON as the feed's data
// line) to each registered target whose branch it is, one event per request,
// in order per target. Headers:
//
//	Content-Type: application/json
//	Carrel-Event: state | session.started | session.ended
//	Carrel-Delivery: the event's ID (the same across retries)
//	Carrel-Signature: t=UNIX_SECONDS,v1=HEX
//
// where HEX is HMAC-SHA256(secret, UNIX_SECONDS + "." + body) in lower-case
// hex. A receiver recomputes it, compares in constant time, and refuses a t
// more than a few minutes from its clock (a replay). A 2xx answer is
// delivered; anything else, or no answer within WebhookTimeout, is retried
// after a capped exponential backoff with full jitter (internal/backoff), up
// to WebhookAttempts attempts; then the event is dead-lettered: counted in the
// target's dead count (`carrel-hub webhook list`), not kept. A target's queue
// holds WebhookQueue events; an event that finds it full is dead-lettered at
// once, so a target that hangs delays only its own deliveries.

// Signature headers.
const (
	HeaderSignature = "Carrel-Signature"
	HeaderEvent     = "Carrel-Event"
	HeaderDelivery  = "Carrel-Delivery"
)

// Sign is the Carrel-Signature value of body, posted at t with secret.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

type hooks struct {
	s *Server

	mu      sync.Mutex
	targets map[string]*target // webhook ID → target; guarded by mu
	wg      sync.WaitGroup     // target workers

	pendingMu sync.Mutex
	pending   []*target // stopped targets whose counts are not flushed yet; guarded by pendingMu
}

type delivery struct {
	id   uint64
	kind protocol.FeedKind
	body []byte
}

type target struct {
	hook store.Webhook
	q    chan delivery
	stop chan struct{}

	mu        sync.Mutex
	delivered int64  // since the last flush; guarded by mu
	dead      int64  // since the last flush; guarded by mu
	lastErr   string // since the last flush; guarded by mu
	totalDead int64  // since the hub started; guarded by mu
	totalOK   int64  // since the hub started; guarded by mu
}

func newHooks(s *Server) *hooks { return &hooks{s: s, targets: map[string]*target{}} }

// run keeps the targets in step with the store until ctx ends, then stops
// their workers (a delivery in flight is abandoned).
func (h *hooks) run(ctx context.Context) {
	h.reload(ctx)
	t := time.NewTicker(h.s.cfg.WebhookReload)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-t.C:
			h.reload(ctx)
		case <-ctx.Done():
			done = true
		}
	}
	h.mu.Lock()
	for id, tg := range h.targets {
		close(tg.stop)
		delete(h.targets, id)
		h.retired(tg)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// retired keeps a stopped target's unflushed counts for the next flush.
func (h *hooks) retired(tg *target) {
	h.pendingMu.Lock()
	h.pending = append(h.pending, tg)
	h.pendingMu.Unlock()
}

// ReloadWebhooks re-reads the webhook targets from the store now (the CLI and staff
// ops write the store; the hub also re-reads every WebhookReload).
func (s *Server) ReloadWebhooks(ctx context.Context) { s.hooks.reload(ctx) }

func (h *hooks) reload(ctx context.Context) {
	list, err := h.s.store.Webhooks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.s.log.Warn("Webhooks not re-read", "err", err)
		}
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	keep := map[string]bool{}
	for _, w := range list {
		keep[w.ID] = true
		if old := h.targets[w.ID]; old != nil && old.hook.URL == w.URL && bytes.Equal(old.hook.Secret, w.Secret) && old.hook.Branch == w.Branch {
			continue
		}
		if old := h.targets[w.ID]; old != nil {
			close(old.stop)
			h.retired(old)
		}
		tg := &target{hook: w, q: make(chan delivery, h.s.cfg.WebhookQueue), stop: make(chan struct{})}
		h.targets[w.ID] = tg
		h.wg.Add(1)
		go func() { defer h.wg.Done(); h.work(ctx, tg) }()
	}
	for id, tg := range h.targets {
		if !keep[id] {
			close(tg.stop)
			delete(h.targets, id)
			h.retired(tg)
		}
	}
}

// enqueue hands an event to every target of its branch; never blocks.
func (h *hooks) enqueue(ev protocol.FeedEvent, body []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tg := range h.targets {
		if tg.hook.Branch != "" && tg.hook.Branch != ev.Branch {
			continue
		}
		select {
		case tg.q <- delivery{id: ev.ID, kind: ev.Kind, body: body}:
		default:
			tg.count(false, "queue full: the target is too slow")
		}
	}
}

func (tg *target) count(ok bool, errText string) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if ok {
		tg.delivered++
		tg.totalOK++
		return
	}
	tg.dead++
	tg.totalDead++
	tg.lastErr = errText
}

func (h *hooks) work(ctx context.Context, tg *target) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-tg.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tg.stop:
			return
		case d := <-tg.q:
			tg.deliver(ctx, h.s, d)
		}
	}
}

// deliver posts d until it is accepted or the attempts run out.
func (tg *target) deliver(ctx context.Context, s *Server, d delivery) {
	b := backoff.Backoff{Min: s.cfg.WebhookMin, Max: s.cfg.WebhookMax}
	var last string
	for attempt := 1; attempt <= s.cfg.WebhookAttempts; attempt++ {
		err := tg.post(ctx, s, d)
		if err == nil {
			tg.count(true, "")
			return
		}
		last = err.Error()
		if attempt == s.cfg.WebhookAttempts {
			break
		}
		timer := time.NewTimer(b.Next())
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
	tg.count(false, protocol.Clip(last, 200))
}

func (tg *target) post(ctx context.Context, s *Server, d delivery) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.hook.URL, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "carrel-hub webhook")
	req.Header.Set(HeaderEvent, string(d.kind))
	req.Header.Set(HeaderDelivery, strconv.FormatUint(d.id, 10))
	req.Header.Set(HeaderSignature, Sign(tg.hook.Secret, d.body, s.cfg.Now()))
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// WebhookStats is one target's deliveries since the hub started.
type WebhookStats struct {
	Delivered, Dead int64
	LastError       string
}

// WebhookStats says, per webhook ID, how deliveries went since the hub started.
func (s *Server) WebhookStats() map[string]WebhookStats {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]WebhookStats{}
	for id, tg := range h.targets {
		tg.mu.Lock()
		out[id] = WebhookStats{Delivered: tg.totalOK, Dead: tg.totalDead, LastError: tg.lastErr}
		tg.mu.Unlock()
	}
	return out
}

// flush adds the counts since the last flush to the store's.
func (h *hooks) flush(ctx context.Context) {
	h.mu.Lock()
	all := make([]*target, 0, len(h.targets))
	for _, tg := range h.targets {
		all = append(all, tg)
	}
	h.mu.Unlock()
	h.pendingMu.Lock()
	all = append(all, h.pending...)
	h.pending = nil
	h.pendingMu.Unlock()
	tallies := map[string]store.WebhookTally{}
	for _, tg := range all {
		tg.mu.Lock()
		if tg.delivered > 0 || tg.dead > 0 {
			t := tallies[tg.hook.ID]
			t.Delivered += tg.delivered
			t.Dead += tg.dead
			if tg.dead > 0 {
				t.LastError = tg.lastErr
			}
			tallies[tg.hook.ID] = t
			tg.delivered, tg.dead = 0, 0
		}
		tg.mu.Unlock()
	}
	if err := h.s.store.AddWebhookTallies(ctx, tallies); err != nil {
		h.s.log.Warn("Webhook counts not written", "err", err)
	}
}
