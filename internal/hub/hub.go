// Package hub is carrel-hub's server: one TLS listener on which agents enroll
// (POST protocol.PathEnroll, token + CSR) and then hold a mutual-TLS websocket
// (protocol.PathAgent) that carries their events, status and command results, and
// a local control socket (<data>/hub.sock) through which the carrel-hub CLI acts on
// the running hub.
//
// Each agent connection has one reader goroutine and one writer goroutine with a
// bounded send queue: a slow agent is dropped, never waited for. Events from all
// connections go to a single store writer that commits whatever is queued in one
// transaction (group commit) and then acknowledges them.
//
// The hub keeps each terminal's latest decoded status, presence and lock state
// in memory (live.go) and persists statuses every StatusFlush (a status that
// changed only CPU, memory or disk use at most every GaugesEvery); the lock
// state shown is the hub's own, set when an agent answers a lock or unlock.
//
// The agent listener is a wsserve.TLSListener: handshakes run on workers of
// their own, so a reconnect storm queues in the hub, not in the kernel.
//
// The same listener serves the staff API (internal/staffapi): setup, login and
// logout over HTTPS, then a websocket per console whose every request is
// checked against the session and the staff role. The hub gives it a narrow
// view of itself (Terminal, Terminals, SendCommand, Revoke) and tells it what
// changed (staffapi.Server.Changed). Commands through the control socket are
// authorised by who can reach it (root or the hub's own user).
//
// Usage counters (stats.go) are decided as an agent's event is read and go
// with it to the store writer, which bumps them in the event's transaction,
// once however often the agent sends it; Count adds what the hub counts
// itself. Housekeeping deletes what retention keeps no longer (KeepEvents,
// KeepSessions) every hour.
// Patron sign-in (patron.go): an agent's SignIn is answered off the
// connection's reader by internal/patron (SIP2 to the ILS, guest passes, time
// rules), one in flight per connection and SignInConcurrency in the hub; the
// grant is signed with <data>/grant.key, whose public half Welcome carries;
// staff time changes go to the agent as a GrantUpdate, and so does the
// running session's grant when its agent reconnects (re-signed with the
// seconds left, since an agent counts from arrival); session.ended events
// settle the daily allowance. Hub.ILSLink is the ILS's state for the console
// and readiness checks.
//
// The same listener also serves the read-only API (internal/api, under
// /api/v1/, with /healthz, /readyz and the free PCs page /free): the hub tells
// it what changed where it tells the consoles (Hub.changed), and hands it each
// committed session.started and session.ended event for its feed and
// webhooks. Config.API takes the usage counts and the ILS check from whoever
// assembles the hub.
//
// Hub.Run holds every goroutine it starts in one errgroup under its context
// (internal/wsserve has what the two servers share).
package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/carrel-kiosk/carrel/internal/api"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/patron"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// Config is what a hub needs. Zero durations and sizes take the defaults below.
type Config struct {
	DataDir string   // CA, server certificate, hub.db, hub.sock; created 0700
	Listen  string   // e.g. ":8443" or "127.0.0.1:0"
	Names   []string // DNS names / IPs agents use to reach the hub (first one is the certificate's CN)

	CommandTTL time.Duration // default 2 min: a command's expiry
	WakeCheck  time.Duration // default WakeCheck (5 min): a woken PC not online by then is audited as not woken
	// MaintenanceTick is how often the hub compares each online PC's
	// maintenance with the open windows and ends windows whose time is up
	// (default MaintenanceTick, 10 s).
	MaintenanceTick time.Duration
	HelloTimeout    time.Duration // default 10 s: first frame must be Hello within it
	// WelcomeWithin bounds how long a Hello may wait for its registration
	// (default 14 s): an agent waits 15 s for Welcome after its Hello
	// (link.Options.HandshakeTimeout), and a Welcome later than that reaches
	// nobody. Registrations queue only when a whole fleet says Hello at once.
	WelcomeWithin time.Duration
	PingInterval  time.Duration // default 25 s
	PongWait      time.Duration // default 60 s: no frame or pong for this long drops the agent
	WriteWait     time.Duration // default 10 s: one frame write
	SendQueue     int           // default 64 frames queued per agent before it is dropped
	BatchMax      int           // default 256 events per store transaction
	// StatusFlush is how often the newest status of each terminal is written to
	// the store (default 1 s). Consoles get statuses from memory at once; the
	// database only persists them.
	StatusFlush time.Duration
	// GaugesEvery is how often a terminal's status is persisted when only its
	// gauges (CPU, memory and disk use) changed (default 1 min); any other
	// change is persisted at the next StatusFlush. Agents send a status every
	// few seconds, and a fleet's gauges written each time were most of what
	// the hub wrote.
	GaugesEvery time.Duration

	// AuditKeyFile holds the key of the audit rows' MACs (default
	// <DataDir>/audit.key, made on first start); keep it, and its backups,
	// apart from hub.db's. AuditHeadEvery is how often the signed audit head
	// is written to the hub's log when the chain has grown (default 5 min; and
	// always at shutdown).
	AuditKeyFile   string
	AuditHeadEvery time.Duration

	// KeepEvents is how long agent events and staff commands are kept
	// (default 30 days), KeepSessions how long session detail is (the
	// session.started/ended/warned/refused events, and whatever else is
	// registered in store.RetentionRules under store.KeepSessions; default 24
	// hours). Older rows are deleted at start and then every hour, each
	// deletion counted (protocol.MetricDeleted). Counts and the audit log are
	// kept for good.
	KeepEvents   time.Duration
	KeepSessions time.Duration
	// Zone is the time zone reports count days, weeks and months in (default
	// the hub's local zone).
	Zone *time.Location

	// ExpiredGrace is how long after its certificate expired a PC that was
	// off may still renew it by itself (default 180 days: a branch closed for
	// the summer). A revoked certificate never may.
	ExpiredGrace time.Duration

	EnrollPerMinute float64 // default 10 enrollment attempts per remote address per minute
	EnrollBurst     int     // default 20

	// NoControlSocket skips <data>/hub.sock (a hub embedded in a test or the console).
	NoControlSocket bool

	Version string // shown to consoles in hub.info
	HubURL  string // wss:// URL agents dial, for enrollment command lines (default: first name, listen port; see PublicName)

	// SIP2 is the library's ILS for card sign-in (nil: none; guest passes
	// only). Its Timeout bounds each card sign-in (default 5 s).
	SIP2 *sip2.Config
	// PatronLocation is the library's time zone for opening hours and the
	// daily allowance (default the hub's local time).
	PatronLocation *time.Location
	// PatronCount is the usage counters' hook (patron.Config.Count); nil:
	// Hub.Count, the hub's own counters.
	PatronCount func(metric protocol.Metric, label, terminal string, n int64)
	// SignInConcurrency bounds the sign-ins the hub works on at once
	// (default 256); each agent has at most one in flight.
	SignInConcurrency int
	// ILSCheckEvery is how often the ILS is asked for its status (default
	// 1 min).
	ILSCheckEvery time.Duration

	// Staff is the staff API's configuration (internal/staffapi); its
	// DataDir, Version and websocket timing are the hub's.
	Staff staffapi.Config

	// API is the read-only API's configuration (internal/api): its Counts
	// (the usage statistics) and ILSReady (the patron service's link) are
	// set by whoever assembles the hub; nil leaves /counts answering 503 and
	// /readyz without an ILS check.
	API api.Config
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.CommandTTL, 2*time.Minute)
	set(&c.WakeCheck, WakeCheck)
	set(&c.MaintenanceTick, MaintenanceTick)
	set(&c.HelloTimeout, 10*time.Second)
	set(&c.WelcomeWithin, 14*time.Second)
	set(&c.PingInterval, 25*time.Second)
	set(&c.PongWait, 60*time.Second)
	set(&c.WriteWait, 10*time.Second)
	set(&c.KeepEvents, store.DefaultKeep[store.KeepEvents])
	set(&c.KeepSessions, store.DefaultKeep[store.KeepSessions])
	if c.Zone == nil {
		c.Zone = time.Local
	}
	set(&c.StatusFlush, time.Second)
	set(&c.GaugesEvery, time.Minute)
	set(&c.AuditHeadEvery, 5*time.Minute)
	set(&c.ExpiredGrace, 180*24*time.Hour)
	set(&c.ILSCheckEvery, time.Minute)
	if c.SignInConcurrency <= 0 {
		c.SignInConcurrency = 256
	}
	if c.AuditKeyFile == "" {
		c.AuditKeyFile = filepath.Join(c.DataDir, store.AuditKeyFile)
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 64
	}
	if c.BatchMax <= 0 {
		c.BatchMax = 256
	}
	if c.EnrollPerMinute <= 0 {
		c.EnrollPerMinute = 10
	}
	if c.EnrollBurst <= 0 {
		c.EnrollBurst = 20
	}
	if c.Listen == "" {
		c.Listen = ":8443"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	c.Staff.DataDir, c.Staff.Version, c.Staff.Zone = c.DataDir, c.Version, c.Zone
	c.Staff.PingInterval, c.Staff.PongWait, c.Staff.WriteWait = c.PingInterval, c.PongWait, c.WriteWait
}

// Files in the data directory.
const (
	DBFile      = "hub.db"
	SocketFile  = "hub.sock"
	PublishFile = "hub.json"
)

// ErrOffline is returned by SendCommand when the terminal has no live connection.
var ErrOffline = errors.New("terminal is offline")

// Hub is a running hub. Create with New, serve with Run.
type Hub struct {
	connGen atomic.Uint64 // numbers accepted agent connections in order
	cfg     Config
	log     *slog.Logger
	ca      *pki.CA
	// ticketSecret derives the TLS session ticket keys (tickets.go).
	ticketSecret []byte
	store        *store.Store
	srv          *http.Server
	ln           net.Listener
	ctl          *http.Server
	ctlLn        net.Listener
	limit        *wsserve.RateLimiter
	quiet        *wsserve.QuietLog // repeated warnings about the same peer go to Debug

	upgrader websocket.Upgrader
	tlsCfg   *tls.Config

	events    chan eventReq // to the store writer
	statusMu  sync.Mutex
	statuses  map[string]statusUpdate // to persist: newest per terminal; guarded by statusMu
	persisted map[string]statusUpdate // the last status queued per connected terminal; guarded by statusMu
	live      *liveView               // what consoles are shown
	countMu   sync.Mutex
	counts    []store.Count // the hub's own counts, to write with the next commit; guarded by countMu
	writerOut chan struct{} // closed when the store writer has exited
	stopWrite chan struct{} // closed to make the store writer flush and exit

	wakeMu sync.Mutex
	wakes  map[string]wakeWatch // woken PCs expected online (power.go)

	maintMu   sync.Mutex           // guards maintSent and maintOpen
	maintSent map[string]maintSent // the last window sent to each PC (maintenance.go)
	maintOpen map[string]bool      // the recurring occurrences seen open, for their audit

	mu      sync.Mutex
	conns   map[string]*agentConn // terminal ID → live connection; guarded by mu
	pending map[string]*pendingCmd
	closing bool // set when Run is shutting down; guarded by mu

	staff *staffapi.Server // the staff API on the same listener
	api   *api.Server      // the read-only API on the same listener

	grantKey ed25519.PrivateKey // signs patron grants (GrantKeyFile)
	patron   *patron.Service
	ils      *sip2.Client  // nil without an ILS
	signSem  chan struct{} // bounds sign-ins in flight
	patronWG sync.WaitGroup

	headMu   sync.Mutex // guards headText and headAt
	headText string     // a recent signed audit head, for Welcome
	headAt   time.Time

	// presence orders a terminal's store Connect/Disconnect with its conns
	// changes; striped by terminal, so that registrations of different
	// terminals wait for the store together (connectWriter batches them).
	presence    [presenceStripes]sync.Mutex
	connects    chan *connectReq // to connectWriter
	connectsOut chan struct{}    // closed when connectWriter has exited
	connWG      sync.WaitGroup
	runOnce     sync.Once
}

type pendingCmd struct {
	terminal string
	ch       chan protocol.Result // buffered 1
}

// New opens (creating on first start) the CA, server certificate and store in
// cfg.DataDir, marks every terminal offline, and binds the listener and the control
// socket, so Addr works at once. Run serves; if Run is never called, Close frees
// what New took.
func New(cfg Config, log *slog.Logger) (*Hub, error) {
	cfg.defaults()
	if log == nil {
		return nil, errors.New("new hub: logger is nil")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("new hub: data directory not set")
	}
	ca, err := pki.LoadOrCreate(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	srvCert, err := ca.ServerCertificate(cfg.Names)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, DBFile))
	if err != nil {
		return nil, err
	}
	if err := UseAuditKey(st, cfg.AuditKeyFile); err != nil {
		st.Close()
		return nil, err
	}
	h := &Hub{
		cfg: cfg, log: log, ca: ca, store: st,
		limit:       wsserve.NewRateLimiter(cfg.EnrollPerMinute/60, cfg.EnrollBurst),
		quiet:       wsserve.NewQuietLog(log, time.Hour),
		events:      make(chan eventReq, 4*cfg.BatchMax),
		connects:    make(chan *connectReq, 4*cfg.BatchMax),
		connectsOut: make(chan struct{}),
		statuses:    map[string]statusUpdate{},
		persisted:   map[string]statusUpdate{},
		live:        newLiveView(),
		writerOut:   make(chan struct{}),
		stopWrite:   make(chan struct{}),
		conns:       map[string]*agentConn{},
		pending:     map[string]*pendingCmd{},
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small buffers, and write buffers shared between connections: most agents
		// are idle most of the time, and their frames are small.
		ReadBufferSize:    1 << 10,
		WriteBufferSize:   1 << 10,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: false,
		CheckOrigin:       func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
	}
	h.tlsCfg = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{srvCert},
		// A client certificate is checked by verifyClient, not by crypto/tls,
		// so that one expired within the grace window gets as far as
		// PathRenewExpired (and nowhere else: handleAgent refuses it).
		ClientAuth:       tls.RequestClientCert,
		VerifyConnection: h.verifyClient,
		NextProtos:       []string{"http/1.1"},
	}
	if h.ticketSecret, err = loadOrCreateTicketSecret(filepath.Join(cfg.DataDir, TicketKeyFile)); err != nil {
		st.Close()
		return nil, err
	}
	rotateTicketKeys(h.tlsCfg, h.ticketSecret, time.Now())
	if h.grantKey, err = loadOrCreateGrantKey(filepath.Join(cfg.DataDir, GrantKeyFile)); err != nil {
		st.Close()
		return nil, err
	}
	if err := h.newPatron(); err != nil {
		st.Close()
		return nil, err
	}
	if h.staff, err = staffapi.New(context.Background(), cfg.Staff, h, st, log); err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	// Handshakes on workers of their own, so that a reconnect storm waits in
	// the hub and not in the kernel's accept queue (see wsserve.TLSListener).
	h.ln = wsserve.NewTLSListener(ln, h.tlsCfg, wsserve.TLSListenerOptions{Log: log})
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.PathEnroll, h.handleEnroll)
	mux.HandleFunc(protocol.PathAgent, h.handleAgent)
	mux.HandleFunc(protocol.PathRenewExpired, h.handleRenewExpired)
	h.staff.Handle(mux)
	if cfg.API.Counts == nil {
		cfg.API.Counts = apiCounts{h}
	}
	if cfg.API.ILSReady == nil && cfg.SIP2 != nil {
		cfg.API.ILSReady = h.ilsReady
	}
	if h.api, err = api.New(cfg.API, h, st, log); err != nil {
		st.Close()
		h.ln.Close()
		return nil, err
	}
	h.api.Handle(mux)
	h.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// TLS handshake failures (no or foreign client certificates, scanners) are
		// expected on an open port: keep them out of the main log.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if !cfg.NoControlSocket {
		if err := h.listenControl(); err != nil {
			h.ln.Close()
			st.Close()
			return nil, err
		}
	}
	// Only now, sure no other hub serves this data dir: nobody can be connected.
	if err := st.MarkAllOffline(context.Background()); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Addr is the address the agent listener is bound to.
func (h *Hub) Addr() net.Addr { return h.ln.Addr() }

// Fingerprint is the CA fingerprint agents pin.
func (h *Hub) Fingerprint() string { return h.ca.Fingerprint() }

// CA is the hub's certificate authority.
func (h *Hub) CA() *pki.CA { return h.ca }

// API is the hub's read-only API (internal/api).
func (h *Hub) API() *api.Server { return h.api }

// Store is the hub's database.
func (h *Hub) Store() *store.Store { return h.store }

// Published is what a running hub writes to <data>/hub.json so the CLI can print
// the right agent command line.
type Published struct {
	Listen      string   `json:"listen"`
	Names       []string `json:"names"`
	Fingerprint string   `json:"fingerprint"`
	PID         int      `json:"pid"`
	// AgentURL is the URL enrollment lines give the PCs, when the hub has a
	// public name (Hub.PublicName); empty without one.
	AgentURL string `json:"agent_url,omitempty"`
}

// LoadPublished reads <data>/hub.json written by the last serve.
func LoadPublished(dataDir string) (Published, error) {
	var p Published
	b, err := os.ReadFile(filepath.Join(dataDir, PublishFile))
	if err != nil {
		return p, fmt.Errorf("read %s: %w", PublishFile, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("read %s: %w", PublishFile, err)
	}
	return p, nil
}

func (h *Hub) publish() error {
	var agentURL string
	if h.PublicName() != "" {
		agentURL = h.AgentURL()
	}
	b, _ := json.MarshalIndent(Published{Listen: h.ln.Addr().String(), Names: pki.ServerNames(h.cfg.Names), AgentURL: agentURL,
		Fingerprint: h.Fingerprint(), PID: os.Getpid()}, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(h.cfg.DataDir, PublishFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", PublishFile, err)
	}
	return nil
}

// Run serves until ctx is cancelled, then shuts down gracefully: it stops
// accepting, closes every agent connection and console with a close frame,
// commits the events already received, and returns within a few seconds.
// Cancellation is not an error; a listener that fails ends the hub with its
// error. Run may be called once.
//
// Everything Run starts is in one errgroup under ctx: the two HTTP servers,
// the store writer, the staff API's push bus and the daily housekeeping.
// Requests are served under a context that outlives ctx until the servers
// have stopped, so work already accepted may finish; what must be written in
// any case (an agent going offline, a batch of events) is written under
// context.WithoutCancel.
func (h *Hub) Run(ctx context.Context) error {
	ran := false
	h.runOnce.Do(func() { ran = true })
	if !ran {
		return errors.New("hub: Run called twice")
	}
	if err := h.publish(); err != nil {
		h.log.Warn("Cannot publish listen address", "err", err)
	}
	h.log.Info("Hub listening", "addr", h.ln.Addr().String(), "fingerprint", h.Fingerprint(), "names", pki.ServerNames(h.cfg.Names))
	if h.PublicName() == "" {
		h.log.Warn("This hub has no public name: set carrel-hub serve --name HOST, the name the library's PCs reach it by; until then enrollment lines name localhost",
			"agentURL", h.AgentURL())
	}

	g, ctx := errgroup.WithContext(ctx)
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	staffCtx, stopStaff := context.WithCancel(serveCtx)
	h.srv.BaseContext = func(net.Listener) context.Context { return serveCtx }
	g.Go(func() error { h.storeWriter(serveCtx); return nil })
	g.Go(func() error { h.connectWriter(serveCtx); return nil })
	g.Go(func() error { return h.staff.Run(staffCtx) })
	g.Go(func() error { return h.api.Run(serveCtx) })
	g.Go(func() error { return serve("agent listener", h.srv, h.ln) })
	if h.ctl != nil {
		h.ctl.BaseContext = h.srv.BaseContext
		g.Go(func() error { return serve("control socket", h.ctl, h.ctlLn) })
	}
	g.Go(func() error { h.housekeeping(ctx); return nil })
	g.Go(func() error { h.auditHeads(ctx); return nil })
	g.Go(func() error { everyTick(ctx, min(h.cfg.WakeCheck/4, 30*time.Second), h.checkWakes); return nil })
	g.Go(func() error { everyTick(ctx, h.cfg.MaintenanceTick, h.reconcileMaintenance); return nil })
	g.Go(func() error { h.patronChecks(ctx); return nil })
	g.Go(func() error {
		<-ctx.Done()
		h.shutdown(stopStaff)
		stopServing()
		return nil
	})
	err := g.Wait()
	if h.ils != nil {
		h.ils.Close() // sign-ins in flight end now
	}
	h.patronWG.Wait()
	h.logAuditHead(context.Background(), "at shutdown")
	if cerr := h.store.Close(); cerr != nil {
		h.log.Warn("Store close failed", "err", cerr)
	}
	h.log.Info("Hub stopped")
	return err
}

// serve runs an HTTP server on ln until it is shut down, which is not an error.
func serve(what string, srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", what, err)
	}
	return nil
}

// housekeeping runs daily at once and then every 24 hours, and retention at
// once and then every hour, until ctx ends.
func (h *Hub) housekeeping(ctx context.Context) {
	h.daily(ctx)
	h.prune(ctx)
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	hourly := time.NewTicker(time.Hour) // session detail is kept 24 hours: deleted within the hour after
	defer hourly.Stop()
	tickets := time.NewTicker(time.Hour) // today's key, within the hour of midnight UTC
	defer tickets.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.daily(ctx)
		case <-hourly.C:
			h.prune(ctx)
		case now := <-tickets.C:
			rotateTicketKeys(h.tlsCfg, h.ticketSecret, now)
		}
	}
}

// daily is the hub's daily housekeeping: certificate expiry warnings.
func (h *Hub) daily(ctx context.Context) {
	h.warnExpiring(ctx)
}

// CertWarnBefore is how close to expiry an agent certificate gets a warning in the
// log (agents renew at two thirds of 90 days, so with 30 days left one is late).
const CertWarnBefore = 30 * 24 * time.Hour

// warnExpiring logs every terminal whose certificate expires within CertWarnBefore.
func (h *Hub) warnExpiring(ctx context.Context) {
	ts, err := h.store.CertsExpiring(ctx, time.Now().Add(CertWarnBefore))
	if err != nil {
		h.log.Error("Certificate expiry check failed", "err", err)
		return
	}
	for _, t := range ts {
		h.log.Warn("Terminal certificate near expiry, agent not renewing", "terminal", t.ID, "name", t.Name,
			"notAfter", t.CertNotAfter.UTC(), "lastSeen", t.LastSeen.UTC())
	}
}

// shutdown stops both servers, closes every agent and console (stopStaff ends
// the staff API's Run, which closes the consoles), waits for their connections
// to end, and makes the store writer commit what is left and exit.
func (h *Hub) shutdown(stopStaff context.CancelFunc) {
	h.mu.Lock()
	h.closing = true
	conns := make([]*agentConn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	// The API's feeds end with a last event, so that they do not hold up the
	// listener's shutdown below.
	h.api.CloseFeeds("hub shutting down")

	// Stop accepting on both listeners; enrollments and control requests in
	// flight may finish (the control socket's commands end when their agents
	// are closed below).
	ctlDone := make(chan struct{})
	go func() {
		defer close(ctlDone)
		if h.ctl == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		if err := h.ctl.Shutdown(cctx); err != nil {
			h.ctl.Close()
		}
	}()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := h.srv.Shutdown(sctx); err != nil {
		h.log.Warn("HTTP shutdown incomplete", "err", err)
		h.srv.Close()
	}
	cancel()
	// Close every agent with a close frame; commands waiting on them return.
	for _, c := range conns {
		c.Close(wsserve.CloseGoingAway, "hub shutting down")
	}
	stopStaff()
	wsserve.WaitGroup(&h.connWG, 2*time.Second, func() {
		h.log.Warn("Agent connections did not end in time")
		h.mu.Lock()
		for _, c := range h.conns {
			c.WS.Close()
		}
		h.mu.Unlock()
	})
	<-ctlDone
	if h.ctl != nil {
		os.Remove(filepath.Join(h.cfg.DataDir, SocketFile))
	}
	// The readers have ended: the store writer commits what they handed over.
	close(h.stopWrite)
	<-h.writerOut
}

// Close frees what New took when Run was never called.
func (h *Hub) Close() error {
	ran := false
	h.runOnce.Do(func() { ran = true })
	if !ran {
		return nil
	}
	h.ln.Close()
	if h.ctlLn != nil {
		h.ctlLn.Close()
		os.Remove(filepath.Join(h.cfg.DataDir, SocketFile))
	}
	return h.store.Close()
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return prefix + hex.EncodeToString(b)
}
