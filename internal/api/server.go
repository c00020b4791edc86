// Package api is the hub's read-only HTTPS JSON API, mounted on the hub's TLS
// listener under /api/v1/: the terminals and their display states, the
// branches with their counts of PCs per state, usage counts (through a
// Counter the hub is given), a live feed of state changes and session starts
// and ends as server-sent events, and signed webhooks of the same events. It
// also serves /healthz and /readyz without a key, its OpenAPI document
// (openapi.json, embedded and checked against the routes by a test), and the
// "free PCs" page for a screen at a library's entrance (/free).
//
// Clients authenticate with API keys an admin makes (store.CreateAPIKey:
// `carrel-hub apikey create`, the staff op apikey.create); a key reads every
// branch or one, is rate-limited, and a key for one branch asking for
// another's data gets 403 (counted, and written to the audit log as one
// apikey.refused row per key and minute). A key revoked while it holds a feed
// has its feed closed within Config.KeyCheck: the API re-reads the revoked
// keys from the store, so a revocation by the CLI on the hub's machine, which
// writes the store directly, is seen as well as one by a console.
//
// Nothing the API serves names a patron: of a patron session it shows only
// its kind (card or guest) and when it ends; session events carry the kind
// and the end reason.
//
// The hub tells the API what changed with Changed (where it tells the staff
// consoles) and SessionEvent (session.started and session.ended, once
// committed); neither ever blocks. The feed keeps a small queue per client: a
// client that falls behind is dropped with a final "dropped" event, never
// waited for. Webhook targets have a bounded queue each and their own
// timeouts, so a target that hangs costs only its own deliveries.
//
// What it is not (2026-12): it has no write operations, and the console has no
// screen for keys and webhooks yet (staff ops and the CLI make them).
package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// Hub is what the API needs of the hub: the terminals as consoles see them.
type Hub interface {
	Terminal(ctx context.Context, id string) (protocol.TerminalView, error)
	Terminals(ctx context.Context) ([]protocol.TerminalView, error)
}

// Counter answers usage counts for /api/v1/counts: the metrics' totals per
// period of by ("hour", "day", "week" or "month") from from (inclusive) to to
// (exclusive), for branch ("" for all). The hub's usage statistics implement
// it; without one the endpoint answers 503.
type Counter interface {
	Counts(ctx context.Context, from, to time.Time, by, branch string) ([]protocol.APICount, error)
}

// Config is the API's settings. Zero values take the defaults below.
type Config struct {
	// Counts serves /api/v1/counts; nil answers 503.
	Counts Counter
	// ILSReady, when set, is part of /readyz: nil error when the library
	// system's link (SIP2) answers. Nil: no ILS is configured.
	ILSReady func(ctx context.Context) error

	FeedQueue  int           // default 64 events queued per feed client before it is dropped
	FeedRing   int           // default 1024 recent events kept for Last-Event-ID resume
	FeedPing   time.Duration // default 15 s: a comment line that keeps proxies from closing an idle feed
	WriteWait  time.Duration // default 10 s: one write to a feed client
	KeyCheck   time.Duration // default 2 s: how often feeds' keys are re-checked (a revoked key's feeds close)
	KeyPerSec  float64       // default 5 requests per second per key
	KeyBurst   int           // default 60
	MaxClients int           // default 5000 feed clients in all; more are refused (503)

	WebhookQueue    int           // default 256 events queued per target before they are dead-lettered
	WebhookTimeout  time.Duration // default 10 s per POST
	WebhookAttempts int           // default 6 attempts before an event is dead-lettered
	WebhookMin      time.Duration // default 1 s: the first retry's ceiling (backoff doubles it, full jitter)
	WebhookMax      time.Duration // default 2 min
	WebhookReload   time.Duration // default 10 s: how often the targets are re-read from the store
	// FlushEvery is how often keys' last use, refusals (to the audit log)
	// and webhook counts are written to the store (default 1 min).
	FlushEvery time.Duration
	// HTTPClient posts the webhooks (nil: a client with WebhookTimeout that
	// follows no redirects). Tests give one that trusts their server.
	HTTPClient *http.Client

	Now func() time.Time
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	seti := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	seti(&c.FeedQueue, 64)
	seti(&c.FeedRing, 1024)
	seti(&c.KeyBurst, 60)
	seti(&c.MaxClients, 5000)
	seti(&c.WebhookQueue, 256)
	seti(&c.WebhookAttempts, 6)
	set(&c.FeedPing, 15*time.Second)
	set(&c.WriteWait, 10*time.Second)
	set(&c.KeyCheck, 2*time.Second)
	set(&c.WebhookTimeout, 10*time.Second)
	set(&c.WebhookMin, time.Second)
	set(&c.WebhookMax, 2*time.Minute)
	set(&c.WebhookReload, 10*time.Second)
	set(&c.FlushEvery, time.Minute)
	if c.KeyPerSec <= 0 {
		c.KeyPerSec = 5
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout:       c.WebhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
}

// Server is the API of one hub. Create with New, mount with Handle, run the
// feed, key checks and webhooks with Run.
type Server struct {
	cfg   Config
	hub   Hub
	store *store.Store
	log   *slog.Logger

	keyLimit *wsserve.RateLimiter // requests per key
	badLimit *wsserve.RateLimiter // unknown keys per remote address
	feed     *feed
	hooks    *hooks

	keyMu    sync.Mutex
	keys     map[[32]byte]cachedKey // guarded by keyMu
	used     map[string]time.Time   // key ID → last use not yet written; guarded by keyMu
	refused  map[string]int         // key ID → 403s not yet audited; guarded by keyMu
	touched  map[string]time.Time   // key ID → last use written; guarded by keyMu
	readyMu  sync.Mutex
	readyAt  time.Time // when ready was last checked; guarded by readyMu
	readyRes protocol.APIHealth
}

type cachedKey struct {
	key store.APIKey
	at  time.Time
}

// New makes the API of hub, whose store is st.
func New(cfg Config, hub Hub, st *store.Store, log *slog.Logger) (*Server, error) {
	cfg.defaults()
	if hub == nil || st == nil || log == nil {
		return nil, errors.New("new API: hub, store and logger are required")
	}
	s := &Server{cfg: cfg, hub: hub, store: st, log: log,
		keyLimit: wsserve.NewRateLimiter(cfg.KeyPerSec, cfg.KeyBurst),
		badLimit: wsserve.NewRateLimiter(1, 20),
		keys:     map[[32]byte]cachedKey{},
		used:     map[string]time.Time{},
		refused:  map[string]int{},
		touched:  map[string]time.Time{},
	}
	s.feed = newFeed(s)
	s.hooks = newHooks(s)
	return s, nil
}

// route is one path of the API. Every one is in openapi.json (a test checks).
type route struct {
	method, path string
	auth         bool // needs an API key
	serve        func(*Server, *call) (any, error)
	raw          func(*Server, http.ResponseWriter, *http.Request) // writes its own answer (the feed, pages)
}

// Paths of the API.
const (
	PathTerminals = "/api/v1/terminals"
	PathTerminal  = "/api/v1/terminals/{id}"
	PathBranches  = "/api/v1/branches"
	PathCounts    = "/api/v1/counts"
	PathFeed      = "/api/v1/feed"
	PathOpenAPI   = "/api/v1/openapi.json"
	PathHealthz   = "/healthz"
	PathReadyz    = "/readyz"
	PathFree      = "/free"
)

var routes = []route{
	{method: http.MethodGet, path: PathTerminals, auth: true, serve: (*Server).terminals},
	{method: http.MethodGet, path: PathTerminal, auth: true, serve: (*Server).terminal},
	{method: http.MethodGet, path: PathBranches, auth: true, serve: (*Server).branches},
	{method: http.MethodGet, path: PathCounts, auth: true, serve: (*Server).counts},
	{method: http.MethodGet, path: PathFeed, auth: true, raw: (*Server).serveFeed},
	{method: http.MethodGet, path: PathOpenAPI, raw: (*Server).serveOpenAPI},
	{method: http.MethodGet, path: PathHealthz, raw: (*Server).healthz},
	{method: http.MethodGet, path: PathReadyz, raw: (*Server).readyz},
	{method: http.MethodGet, path: PathFree, raw: (*Server).serveFree},
}

// Handle mounts the API's paths on mux.
func (s *Server) Handle(mux *http.ServeMux) {
	for _, rt := range routes {
		rt := rt
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) { s.serve(rt, w, r) })
	}
	// Anything else under /api/ is a JSON 404, not the mux's text one.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, protocol.APIError{Error: "no such API path"})
	})
}

// call is one authenticated request.
type call struct {
	w   http.ResponseWriter
	r   *http.Request
	key store.APIKey
	q   query
}

// HTTPError is a refusal with its status and, for a bad query, the parameter.
type HTTPError struct {
	Status int
	Msg    string
	Param  string
}

func (e *HTTPError) Error() string { return e.Msg }

func errStatus(code int, msg string) error { return &HTTPError{Status: code, Msg: msg} }

func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	c := &call{w: w, r: r}
	if rt.auth {
		k, err := s.authenticate(r)
		if err != nil {
			s.fail(w, err)
			return
		}
		c.key = k
	}
	if rt.raw != nil {
		if rt.auth {
			r = r.WithContext(context.WithValue(r.Context(), keyCtx{}, c.key))
		}
		rt.raw(s, w, r)
		return
	}
	v, err := rt.serve(s, c)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type keyCtx struct{}

func keyOf(r *http.Request) store.APIKey {
	k, _ := r.Context().Value(keyCtx{}).(store.APIKey)
	return k
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	var he *HTTPError
	if errors.As(err, &he) {
		if he.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		if he.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="carrel-api"`)
		}
		writeJSON(w, he.Status, protocol.APIError{Error: he.Msg, Param: he.Param})
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, protocol.APIError{Error: "not found"})
		return
	}
	s.log.Warn("API request failed", "err", err)
	writeJSON(w, http.StatusInternalServerError, protocol.APIError{Error: "internal error"})
}

func writeJSON(w http.ResponseWriter, code int, v any) { wsserve.WriteJSON(w, code, v) }

// keyFrom is the key a request carries: "Authorization: Bearer KEY", or the
// "key" query parameter (for EventSource and the free PCs page, which cannot
// set headers).
func keyFrom(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if k, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(k)
		}
		return ""
	}
	return r.URL.Query().Get("key")
}

func (s *Server) authenticate(r *http.Request) (store.APIKey, error) {
	now := s.cfg.Now()
	raw := keyFrom(r)
	if raw == "" {
		return store.APIKey{}, errStatus(http.StatusUnauthorized, "an API key is required (Authorization: Bearer KEY)")
	}
	if len(raw) > 200 || !strings.HasPrefix(raw, protocol.APIKeyPrefix) {
		return store.APIKey{}, errStatus(http.StatusUnauthorized, "unknown or revoked API key")
	}
	hash := store.HashAPIKey(raw)
	s.keyMu.Lock()
	ck, ok := s.keys[hash]
	s.keyMu.Unlock()
	if !ok || now.Sub(ck.at) > s.cfg.KeyCheck {
		ip := wsserve.RemoteIP(r.RemoteAddr)
		k, err := s.store.APIKeyByHash(r.Context(), hash)
		if errors.Is(err, store.ErrAPIKeyUnknown) {
			s.keyMu.Lock()
			delete(s.keys, hash)
			s.keyMu.Unlock()
			if !s.badLimit.Allow(ip, now) {
				return store.APIKey{}, errStatus(http.StatusTooManyRequests, "too many unknown keys from this address")
			}
			return store.APIKey{}, errStatus(http.StatusUnauthorized, "unknown or revoked API key")
		}
		if err != nil {
			return store.APIKey{}, err
		}
		ck = cachedKey{key: k, at: now}
		s.keyMu.Lock()
		if len(s.keys) > 10000 {
			clear(s.keys)
		}
		s.keys[hash] = ck
		s.keyMu.Unlock()
	}
	if !s.keyLimit.Allow(ck.key.ID, now) {
		return store.APIKey{}, errStatus(http.StatusTooManyRequests, "this key's request rate is exceeded")
	}
	s.keyMu.Lock()
	if now.Sub(s.touched[ck.key.ID]) > time.Minute {
		s.used[ck.key.ID] = now
	}
	s.keyMu.Unlock()
	return ck.key, nil
}

// forget drops the cached keys with these IDs (revoked).
func (s *Server) forget(ids map[string]bool) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	for h, ck := range s.keys {
		if ids[ck.key.ID] {
			delete(s.keys, h)
		}
	}
}

// allowBranch refuses (403) a branch key asking for another branch, and
// counts the refusal for the audit log. want "" means "every branch": a
// branch key is narrowed to its own.
func (s *Server) allowBranch(k store.APIKey, want string) (string, error) {
	if k.Branch == "" {
		return want, nil
	}
	if want == "" || want == k.Branch {
		return k.Branch, nil
	}
	s.countRefusal(k.ID)
	return "", &HTTPError{Status: http.StatusForbidden, Msg: "this key reads branch " + k.Branch + " only", Param: "branch"}
}

func (s *Server) countRefusal(id string) {
	s.keyMu.Lock()
	s.refused[id]++
	s.keyMu.Unlock()
}

// Refused is how many 403s of each key are not yet written to the audit log.
func (s *Server) Refused() map[string]int {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	out := make(map[string]int, len(s.refused))
	for k, v := range s.refused {
		out[k] = v
	}
	return out
}

// Changed tells the API that these terminals may have changed (status,
// presence, branch, revocation). It never blocks.
func (s *Server) Changed(terminals ...string) { s.feed.changed(terminals) }

// SessionEvent tells the API of a committed agent event; session.started and
// session.ended go to the feed and webhooks, others are ignored. It never
// blocks.
func (s *Server) SessionEvent(ev store.Event) {
	if ev.Kind != protocol.EventSessionStarted && ev.Kind != protocol.EventSessionEnded {
		return
	}
	s.feed.session(ev)
}

// Run runs the feed, the key checks, the webhooks and the periodic writes
// (keys' last use, refusals to the audit log, webhook counts) until ctx ends,
// then closes every feed with a final event and writes what is pending.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.feed.run(ctx) }()
	go func() { defer wg.Done(); s.hooks.run(ctx) }()
	check := time.NewTicker(s.cfg.KeyCheck)
	defer check.Stop()
	flush := time.NewTicker(s.cfg.FlushEvery)
	defer flush.Stop()
	for done := false; !done; {
		select {
		case <-check.C:
			s.checkKeys(ctx)
		case <-flush.C:
			s.flush(ctx)
		case <-ctx.Done():
			done = true
		}
	}
	s.feed.closeAll("hub shutting down")
	wg.Wait()
	s.flush(context.WithoutCancel(ctx))
	return nil
}

// CloseFeeds ends every feed with a last event saying why, and refuses new
// ones; the hub calls it as it shuts down, before its listener.
func (s *Server) CloseFeeds(why string) { s.feed.closeAll(why) }

// checkKeys closes the feeds of keys revoked since they were opened.
func (s *Server) checkKeys(ctx context.Context) {
	ids := s.feed.keyIDs()
	s.keyMu.Lock()
	for _, ck := range s.keys {
		ids = append(ids, ck.key.ID)
	}
	s.keyMu.Unlock()
	if len(ids) == 0 {
		return
	}
	revoked, err := s.store.RevokedAPIKeys(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("API key check failed", "err", err)
		}
		return
	}
	if len(revoked) > 0 {
		s.forget(revoked)
		s.feed.dropKeys(revoked, "key revoked")
	}
}

func (s *Server) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.keyMu.Lock()
	used, refused := s.used, s.refused
	s.used, s.refused = map[string]time.Time{}, map[string]int{}
	for id, t := range used {
		s.touched[id] = t
	}
	s.keyMu.Unlock()
	if err := s.store.TouchAPIKeys(ctx, used); err != nil {
		s.log.Debug("API keys' last use not written", "err", err)
	}
	for id, n := range refused {
		if err := s.store.Audit(ctx, "apikey:"+id, protocol.AuditAPIRefused, id,
			map[string]string{protocol.AuditKeyCount: itoa(n)}); err != nil {
			s.log.Warn("API refusals not audited", "key", id, "count", n, "err", err)
		}
	}
	s.hooks.flush(ctx)
}
