// Package staffapi is the hub's staff API: first-run setup, login and logout
// over plain HTTPS, then one websocket per console on the same TLS listener as
// the agents. Every websocket request re-checks the session (absolute and idle
// expiry, the account not disabled) and the role; every refusal and every
// change is written to the audit log. Read-only requests that succeed
// (terminals, events, subscribe, lists) are not audited: the log records what
// staff did, not what they looked at.
//
// The auth primitives sit beside it (auth.go): argon2id password hashes, TOTP
// codes accepted once, the one-time setup code, lockout after repeated
// failures, per-address and per-name rate limits, and sessions stored hashed.
// Directory accounts (directory.go) have their password checked, and their
// role given, by the library's LDAP or Active Directory at login, and are
// re-checked there at each request; their TOTP secret is the hub's as for
// every account.
//
// The staff API reaches the agents only through Hub, a narrow view of
// internal/hub (send a command, revoke, the terminals as the hub sees them);
// the hub tells it what changed with Changed, and the bus (bus.go) pushes the
// changed terminals and new events to every subscribed console.
//
// The patron session's ops (patron.go) go through Hub too: a PC's session and
// rules, adding time and making guest passes (desk), branch rules and hours
// (admin), and the ILS link state.
package staffapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// Hub is what the staff API needs of the hub.
type Hub interface {
	// Terminal is what a console is shown for one terminal: the hub's live
	// view, or the store's record of a terminal not seen since the hub started.
	Terminal(ctx context.Context, id string) (protocol.TerminalView, error)
	// Terminals is every enrolled terminal, shown the same way.
	Terminals(ctx context.Context) ([]protocol.TerminalView, error)
	// SendCommand sends an action to a terminal and waits for its result; the
	// command and its outcome are audited by the hub.
	SendCommand(ctx context.Context, terminal string, action protocol.Action, args map[string]string, actor string) (protocol.Result, error)
	// Revoke revokes a terminal's certificate and drops its connection.
	Revoke(ctx context.Context, terminal, actor string) (store.Terminal, error)
	// AgentURL is the wss:// URL agents dial; Fingerprint is the CA's.
	AgentURL() string
	// PublicName is the name PCs reach the hub by, "" when it has none
	// (AgentURL then names localhost).
	PublicName() string
	Fingerprint() string
	// AuditHead is the audit chain's head now, signed by the hub.
	AuditHead(ctx context.Context) (protocol.AuditHead, error)

	// The patron session (internal/patron). Changes are audited by the hub.
	// PatronSession is a PC's running session and its branch's rules.
	PatronSession(ctx context.Context, terminal string) (protocol.SessionView, error)
	// AddTime moves a running session's end and sends the PC the new grant.
	AddTime(ctx context.Context, terminal string, minutes int, actor string) (protocol.Grant, error)
	// GuestPasses makes a batch of guest passes.
	GuestPasses(ctx context.Context, a protocol.GuestCreateArgs, actor string) (protocol.GuestPassesView, error)
	PatronRules(ctx context.Context, branch string) (protocol.BranchRules, error)
	SetPatronRules(ctx context.Context, branch string, r *protocol.Rules, actor string) error
	// ILSLink is the state of the link to the library's ILS.
	ILSLink() protocol.ILSLink
	// Maintenance windows (hub/maintenance.go).
	StartMaintenance(ctx context.Context, w protocol.MaintenanceWindow, actor string) (protocol.MaintenanceWindow, error)
	EndMaintenance(ctx context.Context, id int64, actor string) error
	Maintenance(ctx context.Context) (protocol.MaintenanceList, error)
	ScheduleMaintenance(ctx context.Context, a protocol.MaintenanceScheduleArgs, actor string) error
}

// Config is the staff API's settings. Zero values take the defaults below.
type Config struct {
	DataDir string // where the one-time setup code file is written
	Version string // shown to consoles in hub.info
	// Zone is the time zone reports count days in (nil: UTC); the hub's.
	Zone *time.Location

	SessionTTL     time.Duration // default 12 h: a session's absolute life
	IdleTimeout    time.Duration // default 30 min without a request ends a session
	SendQueue      int           // default 256 frames queued per console before it is dropped
	MaxFailures    int           // default 5 consecutive failed logins lock an account
	Lockout        time.Duration // default 15 min
	LoginPerMinute float64       // default 10 login attempts per address (and per user name) per minute
	LoginBurst     int           // default 20

	// The websocket's timing, the same as the agents' (hub.Config).
	PingInterval time.Duration // default 25 s
	PongWait     time.Duration // default 60 s
	WriteWait    time.Duration // default 10 s

	// Now is the clock for sessions, lockouts and TOTP (nil: time.Now); tests
	// move it. Argon is the cost of new password hashes (zero: DefaultArgon);
	// tests make it cheap.
	Now   func() time.Time
	Argon ArgonParams

	// Directory checks the passwords and roles of directory accounts (nil:
	// this hub has none; such accounts cannot log in).
	Directory Directory
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.SessionTTL, 12*time.Hour)
	set(&c.IdleTimeout, 30*time.Minute)
	set(&c.Lockout, 15*time.Minute)
	set(&c.PingInterval, 25*time.Second)
	set(&c.PongWait, 60*time.Second)
	set(&c.WriteWait, 10*time.Second)
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.LoginPerMinute <= 0 {
		c.LoginPerMinute = 10
	}
	if c.LoginBurst <= 0 {
		c.LoginBurst = 20
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Argon == (ArgonParams{}) {
		c.Argon = DefaultArgon
	}
}

// Server is the staff API of one hub. Create with New, mount with Handle,
// serve its push bus with Run.
type Server struct {
	cfg   Config
	hub   Hub
	store *store.Store
	log   *slog.Logger
	quiet *wsserve.QuietLog

	upgrader  websocket.Upgrader
	ipLimit   *wsserve.RateLimiter // login and setup attempts per remote address
	userLimit *wsserve.RateLimiter // login attempts per user name tried
	unknown   failures             // lockout of names that are not accounts
	local     failures             // lockout of accounts tried from the hub's machine (auth.go, Lockout)
	dirs      dirCache             // the directory's recent answers (directory.go)
	refusals  refusals             // anonymous refusals counted for the audit log
	argon     chan struct{}        // bounds concurrent argon2id runs (19 MiB each)
	bus       *staffBus

	dummyOnce sync.Once
	dummyHash string

	mu      sync.Mutex
	closing bool           // set by Run when it ends; guarded by mu
	connWG  sync.WaitGroup // console readers and writers
}

// New makes the staff API of hub, whose store is st, and writes the one-time
// setup code when no staff account exists yet.
func New(ctx context.Context, cfg Config, hub Hub, st *store.Store, log *slog.Logger) (*Server, error) {
	cfg.defaults()
	if hub == nil || st == nil || log == nil {
		return nil, errors.New("new staff API: hub, store and logger are required")
	}
	srv := &Server{
		cfg: cfg, hub: hub, store: st, log: log,
		quiet:     wsserve.NewQuietLog(log, time.Hour),
		ipLimit:   wsserve.NewRateLimiter(cfg.LoginPerMinute/60, cfg.LoginBurst),
		userLimit: wsserve.NewRateLimiter(cfg.LoginPerMinute/60, min(cfg.LoginBurst, 2*cfg.MaxFailures)),
		unknown:   failures{m: map[string]*failCount{}},
		local:     failures{m: map[string]*failCount{}},
		argon:     make(chan struct{}, 2),
		upgrader: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   4 << 10,
			WriteBufferSize:  4 << 10,
			// Consoles never send Origin; handleStaff refuses one that does.
			CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
		},
	}
	srv.bus = newStaffBus(srv)
	if err := srv.ensureSetupCode(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// Handle mounts the staff API's four paths on mux.
func (srv *Server) Handle(mux *http.ServeMux) {
	mux.HandleFunc(protocol.PathStaffSetup, srv.handleSetup)
	mux.HandleFunc(protocol.PathStaffLogin, srv.handleLogin)
	mux.HandleFunc(protocol.PathStaffLogout, srv.handleLogout)
	mux.HandleFunc(protocol.PathStaff, srv.handleStaff)
}

// Changed tells the consoles that these terminals changed and that there may
// be new events. It never blocks: the bus reads what changed when it wakes.
func (srv *Server) Changed(terminals ...string) { srv.bus.changed(terminals...) }

// Run pushes changes to the subscribed consoles until ctx ends, then closes
// every console with a close frame and waits (a few seconds at most) for them
// to end. Call it once; the store must stay open until it returns.
func (srv *Server) Run(ctx context.Context) error {
	busDone := make(chan struct{})
	go func() { defer close(busDone); srv.bus.run(ctx) }()
	tick := time.NewTicker(RefusalWindow)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
			srv.writeSummaries(ctx, srv.refusals.flush())
		case <-ctx.Done():
			done = true
		}
	}
	// The counts of the last window are written too.
	defer srv.writeSummaries(context.WithoutCancel(ctx), srv.refusals.flush())
	srv.mu.Lock()
	srv.closing = true
	srv.mu.Unlock()
	srv.bus.each(func(c *staffConn) { c.Close(wsserve.CloseGoingAway, "hub shutting down") })
	wsserve.WaitGroup(&srv.connWG, 2*time.Second, func() {
		srv.log.Warn("Staff consoles did not end in time")
		srv.bus.each(func(c *staffConn) { c.WS.Close() })
	})
	select {
	case <-busDone:
	case <-time.After(5 * time.Second):
		srv.log.Warn("Staff push did not stop in time")
	}
	return nil
}

// Consoles is how many console websockets are connected.
func (srv *Server) Consoles() int {
	n := 0
	srv.bus.each(func(*staffConn) { n++ })
	return n
}

func (srv *Server) now() time.Time { return srv.cfg.Now() }

// dummy is a hash to verify against when the user does not exist, so that the
// answer takes as long as for a real account.
func (srv *Server) dummy() string {
	srv.dummyOnce.Do(func() { srv.dummyHash = hashPassword("not a password", srv.cfg.Argon) })
	return srv.dummyHash
}

// withArgon runs fn (an argon2id hash) once one of the few slots is free, or
// gives up when ctx ends: a burst of logins queues instead of taking 19 MiB each.
func (srv *Server) withArgon(ctx context.Context, fn func()) error {
	select {
	case srv.argon <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-srv.argon }()
	fn()
	return nil
}
