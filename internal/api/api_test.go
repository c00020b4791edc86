package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

func TestTerminalsShowNoPatronIdentity(t *testing.T) {
	r := newRig(t, Config{})
	ends := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r.hub.mu.Lock()
	v := r.hub.terms["t-2"]
	v.Status.Patron = &protocol.PatronView{Grant: "grant-secret-77", Kind: protocol.PatronCard, Patron: "pseudonym-xyz", Ends: ends}
	r.hub.terms["t-2"] = v
	r.hub.mu.Unlock()

	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+PathTerminals, nil)
	req.Header.Set("Authorization", "Bearer "+r.admin.Key)
	resp, err := r.cli.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, secret := range []string{"pseudonym-xyz", "grant-secret-77"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the API shows %q: %s", secret, raw)
		}
	}
	var ts []protocol.APITerminal
	if code := r.get(r.admin.Key, PathTerminals, &ts); code != 200 || len(ts) != 3 {
		t.Fatalf("%d %+v", code, ts)
	}
	if ts[1].State != protocol.StateInUse || ts[1].Patron == nil || ts[1].Patron.Kind != protocol.PatronCard || !ts[1].Patron.Ends.Equal(ends) {
		t.Fatalf("t-2 shown as %+v", ts[1])
	}
	var one protocol.APITerminal
	if code := r.get(r.admin.Key, "/api/v1/terminals/t-3", &one); code != 200 || one.Name != "south-1" || one.State != protocol.StateFree {
		t.Fatalf("%d %+v", code, one)
	}
	var e protocol.APIError
	if code := r.get(r.admin.Key, "/api/v1/terminals/nope", &e); code != 404 {
		t.Fatalf("unknown terminal: %d %+v", code, e)
	}
	var free []protocol.APITerminal
	if code := r.get(r.admin.Key, PathTerminals+"?state=free&online=true", &free); code != 200 || len(free) != 2 {
		t.Fatalf("free: %d %+v", code, free)
	}
	var bs []protocol.APIBranch
	if code := r.get(r.admin.Key, PathBranches, &bs); code != 200 || len(bs) != 2 || bs[0].Name != "north" ||
		bs[0].Total != 2 || bs[0].States[protocol.StateFree] != 1 || bs[0].States[protocol.StateInUse] != 1 {
		t.Fatalf("branches: %d %+v", code, bs)
	}
}

func TestBranchKeyReadingAnotherBranchIs403AndAudited(t *testing.T) {
	r := newRig(t, Config{FlushEvery: 50 * time.Millisecond})
	for _, path := range []string{
		PathTerminals + "?branch=south",
		"/api/v1/terminals/t-3",
		PathCounts + "?branch=south",
		PathFeed + "?branch=south",
	} {
		var e protocol.APIError
		if code := r.get(r.north.Key, path, &e); code != http.StatusForbidden || !strings.Contains(e.Error, "north") {
			t.Errorf("%s: %d %+v, want 403", path, code, e)
		}
	}
	// Its own branch it reads; the all-branches list is narrowed to it.
	var ts []protocol.APITerminal
	if code := r.get(r.north.Key, PathTerminals, &ts); code != 200 || len(ts) != 2 || ts[0].Branch != "north" || ts[1].Branch != "north" {
		t.Fatalf("%d %+v", code, ts)
	}
	if code := r.get(r.north.Key, PathTerminals+"?branch=north", &ts); code != 200 || len(ts) != 2 {
		t.Fatalf("%d %+v", code, ts)
	}
	var bs []protocol.APIBranch
	if code := r.get(r.north.Key, PathBranches, &bs); code != 200 || len(bs) != 1 || bs[0].Name != "north" {
		t.Fatalf("%d %+v", code, bs)
	}
	// The all-branches key reads south.
	if code := r.get(r.admin.Key, "/api/v1/terminals/t-3", nil); code != 200 {
		t.Fatalf("admin key: %d", code)
	}
	// The four refusals are one audit row for the key, with their count.
	waitFor(t, "the refusals in the audit log", func() bool {
		log, err := r.st.AuditLog(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range log {
			if row.Action == protocol.AuditAPIRefused && row.Target == r.north.ID && strings.Contains(row.Detail, `"count":"4"`) {
				return true
			}
		}
		return false
	})
}

func TestKeysRequiredUnknownAndRevokedRefused(t *testing.T) {
	r := newRig(t, Config{})
	var e protocol.APIError
	if code := r.get("", PathTerminals, &e); code != 401 {
		t.Fatalf("no key: %d", code)
	}
	if code := r.get(protocol.APIKeyPrefix+strings.Repeat("0", 64), PathTerminals, &e); code != 401 {
		t.Fatalf("unknown key: %d", code)
	}
	if code := r.get("not-a-key", PathTerminals, &e); code != 401 {
		t.Fatalf("garbage key: %d", code)
	}
	// The key in the query works too (EventSource cannot set headers).
	if code := r.get("", PathTerminals+"?key="+r.admin.Key, nil); code != 200 {
		t.Fatalf("key parameter: %d", code)
	}
	if _, err := r.st.RevokeAPIKey(context.Background(), r.admin.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revoked key refused", func() bool { return r.get(r.admin.Key, PathTerminals, nil) == 401 })
	// Health needs no key.
	for _, p := range []string{PathHealthz, PathReadyz, PathOpenAPI, PathFree} {
		if code := r.get("", p, nil); code != 200 {
			if p == PathFree || p == PathOpenAPI {
				continue
			}
			t.Errorf("%s: %d", p, code)
		}
	}
}

func TestRateLimitPerKey(t *testing.T) {
	r := newRig(t, Config{KeyPerSec: 0.001, KeyBurst: 3})
	for i := 0; i < 3; i++ {
		if code := r.get(r.admin.Key, PathBranches, nil); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	var e protocol.APIError
	if code := r.get(r.admin.Key, PathBranches, &e); code != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d %+v", code, e)
	}
	if code := r.get(r.north.Key, PathBranches, nil); code != 200 {
		t.Fatalf("another key is limited too: %d", code)
	}
}

func TestMalformedQueryIs400NamingTheParameter(t *testing.T) {
	r := newRig(t, Config{Counts: &fakeCounter{}})
	cases := []struct{ path, param string }{
		{PathTerminals + "?state=busy", "state"},
		{PathTerminals + "?online=yes", "online"},
		{PathTerminals + "?branch=" + strings.Repeat("b", 300), "branch"},
		{PathTerminals + "?branch=", "branch"},
		{PathTerminals + "?colour=red", `"colour"`},
		{PathTerminals + "?state=free&state=locked", "state"},
		{PathTerminals + "?state=%zz", "state"},
		{PathCounts + "?from=yesterday", "from"},
		{PathCounts + "?from=2026-13-01", "from"},
		{PathCounts + "?to=2026-02-30", "to"},
		{PathCounts + "?from=2026-03-01&to=2026-02-01", "to"}, // reversed
		{PathCounts + "?from=2016-01-01&to=2026-01-01", "to"}, // ten years
		{PathCounts + "?from=2026-01-01&to=2026-01-01", "to"}, // empty
		{PathCounts + "?by=fortnight", "by"},
		{PathFeed + "?last_event_id=-1", "last_event_id"},
		{PathFeed + "?last_event_id=abc", "last_event_id"},
		{PathBranches + "?branch=north", `"branch"`},
		{"/api/v1/terminals/t-1?x=1", `"x"`},
		{PathHealthz + "?verbose=1", `"verbose"`},
	}
	for _, c := range cases {
		var e protocol.APIError
		code := r.get(r.admin.Key, c.path, &e)
		if code != http.StatusBadRequest || e.Param != c.param || !strings.Contains(e.Error, c.param) {
			t.Errorf("%s: %d %+v, want 400 naming %s", c.path, code, e, c.param)
		}
	}
	var rows []protocol.APICount
	if code := r.get(r.admin.Key, PathCounts+"?from=2025-01-01&to=2026-01-01&by=month", &rows); code != 200 {
		t.Fatalf("a year by month: %d", code)
	}
}

type fakeCounter struct {
	mu   sync.Mutex
	args []string
}

func (f *fakeCounter) Counts(_ context.Context, from, to time.Time, by, branch string) ([]protocol.APICount, error) {
	f.mu.Lock()
	f.args = append(f.args, from.Format(time.DateOnly)+" "+to.Format(time.DateOnly)+" "+by+" "+branch)
	f.mu.Unlock()
	return []protocol.APICount{{Start: from, Branch: branch, Metric: protocol.MetricSessions, Value: 7}}, nil
}

func TestCountsThroughTheCounter(t *testing.T) {
	fc := &fakeCounter{}
	r := newRig(t, Config{Counts: fc})
	var rows []protocol.APICount
	if code := r.get(r.north.Key, PathCounts+"?from=2026-11-01&to=2026-12-01&by=week", &rows); code != 200 || len(rows) != 1 || rows[0].Value != 7 {
		t.Fatalf("%d %+v", code, rows)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	// The branch key's counts are its branch's, asked or not.
	if len(fc.args) != 1 || fc.args[0] != "2026-11-01 2026-12-01 week north" {
		t.Fatalf("counter asked %q", fc.args)
	}
	r2 := newRig(t, Config{})
	var e protocol.APIError
	if code := r2.get(r2.admin.Key, PathCounts, &e); code != http.StatusServiceUnavailable {
		t.Fatalf("no counter: %d %+v", code, e)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var ilsErr error
	var mu sync.Mutex
	r := newRig(t, Config{ILSReady: func(context.Context) error { mu.Lock(); defer mu.Unlock(); return ilsErr }})
	var h protocol.APIHealth
	if code := r.get("", PathHealthz, &h); code != 200 || !h.OK {
		t.Fatalf("healthz %d %+v", code, h)
	}
	if code := r.get("", PathReadyz, &h); code != 200 || !h.OK || h.Checks["store"] != "ok" || h.Checks["ils"] != "ok" {
		t.Fatalf("readyz %d %+v", code, h)
	}
	mu.Lock()
	ilsErr = errors.New("SIP2 login refused")
	mu.Unlock()
	waitFor(t, "readyz to see the ILS down", func() bool {
		h = protocol.APIHealth{}
		return r.get("", PathReadyz, &h) == http.StatusServiceUnavailable && strings.Contains(h.Checks["ils"], "SIP2")
	})
	r.closeStore() // the store gone: not ready, still alive
	waitFor(t, "readyz to see the store closed", func() bool {
		h = protocol.APIHealth{}
		return r.get("", PathReadyz, &h) == http.StatusServiceUnavailable && h.Checks["store"] != "ok"
	})
	if code := r.get("", PathHealthz, &h); code != 200 {
		t.Fatalf("healthz with the store closed: %d", code)
	}
}

func TestFeedStateChangesSessionsAndResume(t *testing.T) {
	r := newRig(t, Config{})
	f := r.feed(r.admin.Key, "", nil)
	// The snapshot: one state event per terminal, all with the same ID.
	snap := map[string]protocol.DisplayState{}
	var snapID string
	for len(snap) < 3 {
		e := f.next(t, func(e sseEvent) bool { return e.name == "state" })
		snap[e.ev.Terminal], snapID = e.ev.State, e.id
	}
	if snap["t-1"] != protocol.StateFree || snap["t-2"] != protocol.StateInUse {
		t.Fatalf("snapshot %v", snap)
	}
	// A status that changes nothing shown publishes nothing; a state change does.
	r.api.Changed("t-1")
	r.hub.set("t-3", "south-1", "south", protocol.SessionInUse)
	r.api.Changed("t-3")
	e := f.next(t, func(sseEvent) bool { return true })
	if e.name != "state" || e.ev.Terminal != "t-3" || e.ev.State != protocol.StateInUse || e.ev.Branch != "south" {
		t.Fatalf("got %+v", e)
	}
	r.api.SessionEvent(store.Event{Terminal: "t-3", Time: time.Now(), Kind: protocol.EventSessionStarted,
		Data: map[string]string{protocol.DataKind: string(protocol.PatronGuest), protocol.DataPatron: "pseudonym-xyz", protocol.DataGrant: "g-1"}})
	r.api.SessionEvent(store.Event{Terminal: "t-3", Time: time.Now(), Kind: protocol.EventDownloadBlocked})
	r.api.SessionEvent(store.Event{Terminal: "t-3", Time: time.Now(), Kind: protocol.EventSessionEnded,
		Data: map[string]string{protocol.DataEndReason: protocol.EndTimeUp}})
	s1 := f.next(t, func(sseEvent) bool { return true })
	s2 := f.next(t, func(sseEvent) bool { return true })
	if s1.name != "session.started" || s1.ev.Patron != protocol.PatronGuest || s1.ev.Branch != "south" ||
		s2.name != "session.ended" || s2.ev.Ended != protocol.EndTimeUp {
		t.Fatalf("session events %+v %+v", s1, s2)
	}
	f.resp.Body.Close()

	// Resume after the first of those: exactly the two missed, no snapshot.
	r.hub.set("t-1", "north-1", "north", protocol.SessionLocked)
	r.api.Changed("t-1")
	waitFor(t, "the lock published", func() bool { return r.api.FeedStats().LastID > atoiU(s2.id) })
	g := r.feed(r.admin.Key, "", http.Header{"Last-Event-ID": {e.id}})
	a := g.next(t, func(sseEvent) bool { return true })
	b := g.next(t, func(sseEvent) bool { return true })
	c := g.next(t, func(sseEvent) bool { return true })
	if a.id != s1.id || b.id != s2.id || c.name != "state" || c.ev.Terminal != "t-1" || c.ev.State != protocol.StateLocked {
		t.Fatalf("resumed with %+v %+v %+v", a, b, c)
	}
	// One too old (before this hub started) gets the snapshot again.
	h := r.feed(r.admin.Key, "?last_event_id=5", nil)
	first := h.next(t, func(sseEvent) bool { return true })
	if first.name != "state" || first.id == "" || first.id == snapID {
		t.Fatalf("old ID: %+v", first)
	}
	// A branch key's feed carries its branch only.
	n := r.feed(r.north.Key, "", nil)
	for i := 0; i < 2; i++ {
		if e := n.next(t, func(sseEvent) bool { return true }); e.ev.Branch != "north" {
			t.Fatalf("north feed got %+v", e)
		}
	}
	r.hub.set("t-3", "south-1", "south", protocol.SessionFree)
	r.api.Changed("t-3")
	r.hub.set("t-2", "north-2", "north", protocol.SessionFree)
	r.api.Changed("t-2")
	if e := n.next(t, func(sseEvent) bool { return true }); e.ev.Terminal != "t-2" {
		t.Fatalf("north feed got %+v", e)
	}
}

func atoiU(s string) uint64 {
	var n uint64
	for _, c := range s {
		n = n*10 + uint64(c-'0')
	}
	return n
}

func TestKeyRevokedMidFeedClosesIt(t *testing.T) {
	r := newRig(t, Config{KeyCheck: 50 * time.Millisecond})
	f := r.feed(r.north.Key, "", nil)
	other := r.feed(r.admin.Key, "", nil)
	f.next(t, func(e sseEvent) bool { return e.name == "state" })
	start := time.Now()
	// The CLI revokes through the store, not through the running API.
	if _, err := r.st.RevokeAPIKey(context.Background(), r.north.ID, "local:root"); err != nil {
		t.Fatal(err)
	}
	rest := f.ended(t, 5*time.Second)
	if len(rest) == 0 || rest[len(rest)-1].name != "dropped" || rest[len(rest)-1].ev.Reason != "key revoked" {
		t.Fatalf("feed ended with %+v", rest)
	}
	t.Logf("revoked key's feed closed %v after the revocation", time.Since(start).Round(time.Millisecond))
	// The other key's feed goes on.
	r.hub.set("t-1", "north-1", "north", protocol.SessionLocked)
	r.api.Changed("t-1")
	other.next(t, func(e sseEvent) bool { return e.ev.Terminal == "t-1" && e.ev.State == protocol.StateLocked })
	if code := r.get(r.north.Key, PathTerminals, nil); code != 401 {
		t.Fatalf("revoked key answered %d", code)
	}
}

// TestFeedOutlivesTheServersTimeouts: the hub's server gives every request
// 30 s to be read and written; a feed lives on past both. Here they are
// 200 ms and the feed carries events for 1.5 s.
func TestFeedOutlivesTheServersTimeouts(t *testing.T) {
	r := newRigServer(t, Config{}, func(s *http.Server) { s.ReadTimeout, s.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond })
	f := r.feed(r.admin.Key, "", nil)
	for i := 0; i < 3; i++ {
		f.next(t, func(e sseEvent) bool { return e.name == "state" })
	}
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond) // time passing is what is tested
	defer tick.Stop()
	states := []protocol.SessionState{protocol.SessionInUse, protocol.SessionFree}
	for i := 0; time.Since(start) < 1500*time.Millisecond; i++ {
		<-tick.C
		want := states[i%2]
		r.hub.set("t-1", "north-1", "north", want)
		r.api.Changed("t-1")
		f.next(t, func(e sseEvent) bool { return e.ev.Terminal == "t-1" && string(e.ev.State) == string(want) })
	}
}
