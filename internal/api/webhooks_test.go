package api

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// verify is what a receiver does with Carrel-Signature (the README's example
// in Go): recompute, compare in constant time, refuse an old timestamp.
func verify(secret, body []byte, header string, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	want := Sign(secret, body, time.Unix(sec, 0))
	return hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig))
}

func TestSignKnownAnswer(t *testing.T) {
	// What the README's shell check (openssl dgst -sha256 -hmac) gives.
	got := Sign([]byte("0123456789abcdef"), []byte(`{"id":1}`), time.Unix(1765000000, 0))
	if got != "t=1765000000,v1=079b514a5b9e9716a092dce61228f255cc2f66e56a93b5937c96535758ddf274" {
		t.Fatalf("signature %s", got)
	}
	if !verify([]byte("0123456789abcdef"), []byte(`{"id":1}`), got, time.Unix(1765000000, 0)) {
		t.Fatal("own signature refused")
	}
	if verify([]byte("0123456789abcdef"), []byte(`{"id":2}`), got, time.Unix(1765000000, 0)) {
		t.Fatal("another body accepted")
	}
	if verify([]byte("0123456789abcdef"), []byte(`{"id":1}`), got, time.Unix(1765000000, 0).Add(time.Hour)) {
		t.Fatal("an old signature accepted")
	}
}

// TestWebhooksSignedRetriedDeadLetteredHubUnaffected: a good target gets
// every event once, signed; one answering 500 is retried and then the event
// dead-lettered; one that hangs times out, is retried, dead-lettered, and its
// full queue dead-letters at once; meanwhile publishing and the feed carry on.
func TestWebhooksSignedRetriedDeadLetteredHubUnaffected(t *testing.T) {
	secret := []byte("a secret of 32 bytes, or near it")
	var mu sync.Mutex
	var good []protocol.FeedEvent
	goodSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !verify(secret, b, r.Header.Get(HeaderSignature), time.Now()) {
			t.Errorf("bad signature %q", r.Header.Get(HeaderSignature))
			w.WriteHeader(400)
			return
		}
		var ev protocol.FeedEvent
		json.Unmarshal(b, &ev)
		if r.Header.Get(HeaderEvent) != string(ev.Kind) || r.Header.Get(HeaderDelivery) != strconv.FormatUint(ev.ID, 10) {
			t.Errorf("headers %v for %+v", r.Header, ev)
		}
		mu.Lock()
		good = append(good, ev)
		mu.Unlock()
	}))
	defer goodSrv.Close()
	var fails atomic.Int64
	failSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fails.Add(1)
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer failSrv.Close()
	hang := make(chan struct{})
	var hangs atomic.Int64
	hangSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hangs.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hangSrv.Close()
	defer close(hang)

	const attempts, queue = 3, 16
	r := newRig(t, Config{WebhookAttempts: attempts, WebhookQueue: queue, WebhookTimeout: 100 * time.Millisecond,
		WebhookMin: 5 * time.Millisecond, WebhookMax: 20 * time.Millisecond, WebhookReload: time.Hour, FlushEvery: 50 * time.Millisecond})
	ctx := context.Background()
	gw, err := r.st.CreateWebhook(ctx, goodSrv.URL+"/hook", secret, "", "admin")
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := r.st.CreateWebhook(ctx, failSrv.URL, secret, "", "admin")
	hw, _ := r.st.CreateWebhook(ctx, hangSrv.URL, secret, "", "admin")
	sw, _ := r.st.CreateWebhook(ctx, goodSrv.URL+"/south", secret, "south", "admin") // another branch's: gets none of north's
	r.api.ReloadWebhooks(ctx)
	f := r.feed(r.admin.Key, "", nil)
	for i := 0; i < 3; i++ {
		f.next(t, func(e sseEvent) bool { return e.name == "state" })
	}

	const n = 10 // a burst within the queue
	start := time.Now()
	for i := 0; i < n; i++ {
		r.api.feed.publish(protocol.FeedEvent{Kind: protocol.FeedState, Time: time.Now(), Terminal: "t-1", Name: "north-1",
			Branch: "north", State: protocol.StateInUse, Online: true})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("publishing %d events with a hanging target took %v", n, d)
	}
	// The feed is not slowed by the targets.
	for i := 0; i < n; i++ {
		f.next(t, func(e sseEvent) bool { return e.ev.Terminal == "t-1" })
	}
	waitFor(t, "every event delivered to the good target", func() bool { mu.Lock(); defer mu.Unlock(); return len(good) == n })
	mu.Lock()
	for i := 1; i < n; i++ {
		if good[i].ID != good[i-1].ID+1 {
			t.Fatalf("out of order: %d after %d", good[i].ID, good[i-1].ID)
		}
	}
	mu.Unlock()
	waitFor(t, "the 500 target's events dead-lettered", func() bool { return r.api.WebhookStats()[fw.ID].Dead == n })
	if got := fails.Load(); got != n*attempts {
		t.Fatalf("500 target asked %d times, want %d (%d attempts each)", got, n*attempts, attempts)
	}
	// The hanging one: each attempt timed out, attempts times, then dead.
	waitFor(t, "the hanging target's events dead-lettered", func() bool { return r.api.WebhookStats()[hw.ID].Dead == n })
	if h := hangs.Load(); h != n*attempts {
		t.Fatalf("hanging target asked %d times, want %d", h, n*attempts)
	}
	st := r.api.WebhookStats()
	if st[gw.ID].Delivered != n || st[gw.ID].Dead != 0 || st[sw.ID].Delivered != 0 || st[fw.ID].LastError == "" {
		t.Fatalf("stats %+v", st)
	}
	// The counts reach the store, for `carrel-hub webhook list`.
	waitFor(t, "dead counts in the store", func() bool {
		ws, err := r.st.Webhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]int64{}
		for _, w := range ws {
			byID[w.ID] = w.Dead
		}
		return byID[fw.ID] == n && byID[hw.ID] == n && byID[gw.ID] == 0
	})
	// A burst larger than a target's queue: what does not fit is dead at once,
	// and publishing still does not wait.
	start = time.Now()
	for i := 0; i < 3*queue; i++ {
		r.api.feed.publish(protocol.FeedEvent{Kind: protocol.FeedState, Branch: "north"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a burst took %v", d)
	}
	if dead := r.api.WebhookStats()[hw.ID].Dead; dead < n+2*queue-1 {
		t.Fatalf("hanging target's overflow: %d dead, want at least %d", dead, n+2*queue-1)
	}
	// A target removed from the store stops getting events at the next reload.
	if err := r.st.DeleteWebhook(ctx, gw.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	r.api.ReloadWebhooks(ctx)
	r.api.feed.publish(protocol.FeedEvent{Kind: protocol.FeedState, Branch: "north"})
	if _, ok := r.api.WebhookStats()[gw.ID]; ok {
		t.Fatal("deleted target still served")
	}
}
