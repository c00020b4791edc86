package hub

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/api"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// apiFeed reads the API's feed over the hub's own listener.
type apiFeed struct {
	lines chan string
	done  chan struct{}
	resp  *http.Response
}

func (th *testHub) apiClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: th.clientTLS(nil), MaxIdleConnsPerHost: conns}}
}

func (th *testHub) openFeed(t testing.TB, cli *http.Client, key string) *apiFeed {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, th.url(api.PathFeed), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := cli.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("feed: %s", resp.Status)
	}
	f := &apiFeed{lines: make(chan string, 1024), done: make(chan struct{}), resp: resp}
	t.Cleanup(func() { resp.Body.Close(); <-f.done })
	go func() {
		defer close(f.done)
		defer close(f.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				f.lines <- d
			}
		}
	}()
	return f
}

// next waits for an event that ok accepts, returning its raw data line too.
func (f *apiFeed) next(t testing.TB, ok func(protocol.FeedEvent) bool) (protocol.FeedEvent, string) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, open := <-f.lines:
			if !open {
				t.Fatal("feed ended")
			}
			var ev protocol.FeedEvent
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("feed data %q: %v", l, err)
			}
			if ok(ev) {
				return ev, l
			}
		case <-deadline:
			t.Fatal("no such feed event within 15 s")
		}
	}
}

// TestAPIFeedFollowsRealAgents: the hub tells the API where it tells the
// consoles: an agent connecting, its session state changing, its
// session.started and session.ended events (with no patron identity), its
// going offline; and a hub shutting down ends the feed with a last event at
// once, not after the listener's grace.
func TestAPIFeedFollowsRealAgents(t *testing.T) {
	th := startHub(t, nil)
	ctx := context.Background()
	key, err := th.Store().CreateAPIKey(ctx, "signage", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	cli := th.apiClient(4)
	f := th.openFeed(t, cli, key.Key)
	c := th.mustEnroll(t, "pc-api")
	a, _ := th.connect(t, c, 1, nil)
	f.next(t, func(e protocol.FeedEvent) bool {
		return e.Kind == protocol.FeedState && e.Terminal == c.id && e.Online && e.State == protocol.StateFree
	})
	st := status(c.id)
	st.Session, st.SessionSince = protocol.SessionInUse, time.Now().UTC()
	st.Patron = &protocol.PatronView{Grant: "grant-1", Kind: protocol.PatronCard, Patron: "pseudonym-abc", Ends: time.Now().Add(time.Hour).UTC()}
	a.send(&st)
	f.next(t, func(e protocol.FeedEvent) bool { return e.Terminal == c.id && e.State == protocol.StateInUse })
	a.send(&protocol.Event{Seq: 1, Time: time.Now().UTC(), Kind: protocol.EventSessionStarted, Severity: protocol.SeverityInfo,
		Data: map[string]string{protocol.DataSession: "s1", protocol.DataGrant: "grant-1", protocol.DataPatron: "pseudonym-abc", protocol.DataKind: string(protocol.PatronCard)}})
	a.send(&protocol.Event{Seq: 2, Time: time.Now().UTC(), Kind: protocol.EventSessionEnded, Severity: protocol.SeverityInfo,
		Data: map[string]string{protocol.DataSession: "s1", protocol.DataGrant: "grant-1", protocol.DataEndReason: protocol.EndPatron}})
	started, raw1 := f.next(t, func(e protocol.FeedEvent) bool { return e.Kind == protocol.FeedSessionStarted })
	ended, raw2 := f.next(t, func(e protocol.FeedEvent) bool { return e.Kind == protocol.FeedSessionEnded })
	if started.Terminal != c.id || started.Patron != protocol.PatronCard || ended.Ended != protocol.EndPatron {
		t.Fatalf("session events %+v %+v", started, ended)
	}
	for _, secret := range []string{"pseudonym-abc", "grant-1"} {
		if strings.Contains(raw1+raw2, secret) {
			t.Fatalf("feed carries %q: %s %s", secret, raw1, raw2)
		}
	}
	// The terminals endpoint on the same listener shows it, without identity.
	req, _ := http.NewRequest(http.MethodGet, th.url(api.PathTerminals), nil)
	req.Header.Set("Authorization", "Bearer "+key.Key)
	resp, err := cli.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ts []protocol.APITerminal
	json.NewDecoder(resp.Body).Decode(&ts)
	resp.Body.Close()
	if len(ts) != 1 || ts[0].State != protocol.StateInUse || ts[0].Patron == nil || ts[0].Patron.Kind != protocol.PatronCard {
		t.Fatalf("terminals %+v", ts)
	}
	a.ws.Close()
	f.next(t, func(e protocol.FeedEvent) bool {
		return e.Terminal == c.id && !e.Online && e.State == protocol.StateOffline
	})

	start := time.Now()
	if err := th.stop(t); err != nil {
		t.Fatal(err)
	}
	last, _ := f.next(t, func(e protocol.FeedEvent) bool { return e.Kind == protocol.FeedDropped })
	if last.Reason != "hub shutting down" {
		t.Fatalf("last event %+v", last)
	}
	if d := time.Since(start); d > 1900*time.Millisecond {
		t.Fatalf("hub took %v to stop with a feed open (the listener's grace is 2 s)", d)
	}
}

// BenchmarkFeedFanout1000 is the status → API feed latency to 1,000 clients:
// an agent's status changes its PC's state over the real link, and 1,000 SSE
// clients on the hub's listener wait for the event. One change in flight at a
// time; ns/op is until the last client has it; p50 and p99 are over every
// client's receipt. Compare BenchmarkStatusPush (one console).
func BenchmarkFeedFanout1000(b *testing.B) {
	const clients = 1000
	// One key for all the clients: its request rate must allow 1,000 feeds.
	th := startHub(b, func(c *Config) { c.API.KeyPerSec, c.API.KeyBurst = 10000, 10000 })
	key, err := th.Store().CreateAPIKey(context.Background(), "bench", "", "test")
	if err != nil {
		b.Fatal(err)
	}
	c := th.mustEnroll(b, "pc-fan")
	a, _ := th.connect(b, c, 1, nil)
	cli := th.apiClient(clients)
	var sent atomic.Int64
	var got atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	ready := make(chan struct{}, clients)
	for i := 0; i < clients; i++ {
		req, _ := http.NewRequest(http.MethodGet, th.url(api.PathFeed), nil)
		req.Header.Set("Authorization", "Bearer "+key.Key)
		resp, err := cli.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b.Fatalf("feed %d: %s", i, resp.Status)
		}
		b.Cleanup(func() { resp.Body.Close() })
		go func() {
			br := bufio.NewReaderSize(resp.Body, 2048)
			seen := 0
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if string(line) != "event: state\n" {
					continue
				}
				if seen++; seen == 1 {
					ready <- struct{}{} // the snapshot
					continue
				}
				d := time.Duration(time.Now().UnixNano() - sent.Load())
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				got.Add(1)
			}
		}()
	}
	for i := 0; i < clients; i++ {
		<-ready
	}
	st := status(c.id)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		s := st
		if i%2 == 1 {
			s.Session = protocol.SessionInUse
		}
		want := int64(i) * clients
		sent.Store(time.Now().UnixNano())
		a.send(&s)
		deadline := time.Now().Add(30 * time.Second)
		for got.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("change %d reached %d of %d clients in 30 s", i, got.Load()-want+clients, clients)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// TestStaffOpsMakeAndRevokeAPIKeysAndWebhooks: an admin's console makes a
// key (shown once) that reads the API, lists it without the secret, revokes
// it (the API refuses it then); a desk member is refused, audited; webhooks
// are registered, listed without their secret, and removed.
func TestStaffOpsMakeAndRevokeAPIKeysAndWebhooks(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.API.KeyCheck = 50 * time.Millisecond })
	const pw = "long enough password"
	admin := sh.console(t, sh.mustLogin(t, "ann", pw, sh.addStaff(t, "ann", pw, protocol.RoleAdmin)), nil)
	desk := sh.console(t, sh.mustLogin(t, "dan", pw, sh.addStaff(t, "dan", pw, protocol.RoleDesk)), nil)

	if r := desk.do(protocol.OpAPIKeyCreate, protocol.APIKeyArgs{Name: "sneaky"}); r.OK {
		t.Fatal("desk made an API key")
	}
	var k protocol.APIKeyCreated
	admin.ok(protocol.OpAPIKeyCreate, protocol.APIKeyArgs{Name: "entrance", Branch: "north"}, &k)
	if !strings.HasPrefix(k.Key, protocol.APIKeyPrefix) || k.Branch != "north" {
		t.Fatalf("created %+v", k)
	}
	var keys []protocol.APIKeyView
	admin.ok(protocol.OpAPIKeyList, struct{}{}, &keys)
	if len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("listed %+v", keys)
	}
	get := func() int {
		req, _ := http.NewRequest(http.MethodGet, sh.url(api.PathBranches), nil)
		req.Header.Set("Authorization", "Bearer "+k.Key)
		resp, err := sh.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("new key: %d", code)
	}
	var rev protocol.APIKeyView
	admin.ok(protocol.OpAPIKeyRevoke, protocol.APIKeyRevokeArgs{Key: k.ID}, &rev)
	if rev.RevokedAt.IsZero() {
		t.Fatalf("revoked %+v", rev)
	}
	waitFor(t, 10*time.Second, "the revoked key refused", func() bool { return get() == 401 })

	if r := admin.do(protocol.OpWebhookCreate, protocol.WebhookArgs{URL: "https://example.org/h", Secret: "short"}); r.OK {
		t.Fatal("a short secret accepted")
	}
	var w protocol.WebhookView
	admin.ok(protocol.OpWebhookCreate, protocol.WebhookArgs{URL: "https://example.org/h", Secret: "sixteen bytes or more"}, &w)
	r := admin.do(protocol.OpWebhookList, struct{}{})
	if !r.OK || strings.Contains(string(r.Body), "sixteen bytes") || !strings.Contains(string(r.Body), w.ID) {
		t.Fatalf("webhook list %s", r.Body)
	}
	admin.ok(protocol.OpWebhookDelete, protocol.WebhookDeleteArgs{ID: w.ID}, nil)

	actions := map[protocol.AuditAction]int{}
	for _, row := range sh.auditRows(t) {
		actions[row.Action]++
		if strings.Contains(row.Detail, k.Key) || strings.Contains(row.Detail, "sixteen bytes") {
			t.Fatalf("audit row holds a secret: %s", row.Detail)
		}
	}
	for _, a := range []protocol.AuditAction{protocol.AuditAPIKeyCreate, protocol.AuditAPIKeyRevoke, protocol.AuditWebhookCreate,
		protocol.AuditWebhookDelete, protocol.AuditAction(protocol.OpAPIKeyCreate)} {
		if actions[a] == 0 {
			t.Errorf("no %s audit row (%v)", a, actions)
		}
	}
}
