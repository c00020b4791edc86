// Package hubclient is the staff console's client of the hub's staff API: plain
// HTTPS POSTs for first-run setup and login, then one websocket that carries
// requests (correlated with responses by ID) and the hub's pushes.
//
// The hub's CA is pinned by fingerprint (pki.PinnedTLSConfig); the system roots
// are never consulted. After a dropped link the client redials with capped
// exponential backoff and jitter (internal/backoff, never under half of
// BackoffMin) and re-subscribes with since_event set to the last event
// ID it delivered, so a console catches up on what it missed.
//
// It is not a cache: it keeps no terminals or events, only the session, the
// last event ID and the hub's CA certificate as presented at the last TLS
// handshake (CA, against which the console checks audit heads). Its tests run it against the real hub in the test process
// (internal/testrig/hubrig: real TLS, real SQLite, terminals running the
// agent's link client), some through hubrig's Tap, a relay that records what
// the client asks and drops its link; console/embedded's
// TestClientAgainstRealHub and console/xvfbtest's TestRealHub do the same with
// the embedded hub and a carrel-hub process.
package hubclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/gorilla/websocket"
)

var (
	// ErrBadCredentials is the hub's 401 on login: user, password or code wrong.
	ErrBadCredentials = errors.New("wrong user, password or code")
	// ErrRateLimited is the hub's 429: too many attempts, try later.
	ErrRateLimited = errors.New("too many attempts: wait and try again")
	// ErrNotLoggedIn is returned by websocket operations before Login.
	ErrNotLoggedIn = errors.New("not logged in")
	// ErrSessionEnded means the hub refused the session (expired or logged out):
	// the client stops redialling and the user must log in again. It has a
	// SessionEnded() bool method, which is how console/ui recognises it.
	ErrSessionEnded error = sessionEnded{}
	// ErrDisconnected is returned for a request whose answer was lost with the link.
	ErrDisconnected = errors.New("link to the hub dropped")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("client closed")
)

type sessionEnded struct{}

func (sessionEnded) Error() string      { return "session ended: log in again" }
func (sessionEnded) SessionEnded() bool { return true }

// HubError is an error the hub answered to a request (StaffResponse.Error or an
// ErrorResponse body). Its text comes from the hub and is shown as plain text.
type HubError struct {
	Status int // HTTP status, 0 for a websocket response
	Msg    string
}

func (e *HubError) Error() string { return "hub: " + e.Msg }

// Options tune the client; zero values take the defaults.
type Options struct {
	RequestTimeout time.Duration // default 30 s: a request with no deadline of its own
	CommandTimeout time.Duration // default 3 min: a command waits for the agent's answer
	BackoffMin     time.Duration // default 500 ms
	BackoffMax     time.Duration // default 30 s
	PingInterval   time.Duration // default 20 s
	PongWait       time.Duration // default 60 s: no frame for this long drops the link
	WriteWait      time.Duration // default 10 s
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.RequestTimeout, 30*time.Second)
	set(&o.CommandTimeout, 3*time.Minute)
	set(&o.BackoffMin, 500*time.Millisecond)
	set(&o.BackoffMax, 30*time.Second)
	set(&o.PingInterval, 20*time.Second)
	set(&o.PongWait, 60*time.Second)
	set(&o.WriteWait, 10*time.Second)
}

// Target names a hub: its base URL (https://host:port) and its CA fingerprint.
type Target struct {
	URL         string
	Fingerprint string
}

// Client talks to one hub. All methods are safe for concurrent use. Push and
// link callbacks run on the client's reader goroutine, one at a time, in order:
// they must return quickly (the console's bridge hands them to fyne.Do).
type Client struct {
	log  *slog.Logger
	opts Options
	ca   atomic.Pointer[x509.Certificate] // the pinned CA, from the last handshake

	mu       sync.Mutex // protects every field below
	base     *url.URL
	tlsConf  *tls.Config
	httpc    *http.Client
	session  string
	login    protocol.LoginResponse
	subs     map[int]subscriber
	nextSub  int
	since    int64 // last event ID delivered to subscribers
	cur      *conn // the live connection, nil while down
	ready    chan struct{}
	cancel   context.CancelFunc // stops the run loop of the current session
	runDone  chan struct{}
	closed   bool
	nextReq  uint64
	dialHook func() // tests: called before every dial
}

type subscriber struct {
	push func(protocol.StaffPush)
	link func(up bool, err error)
}

// New returns a client with no hub chosen yet; call SetTarget before Setup or Login.
func New(log *slog.Logger, opts Options) *Client {
	opts.defaults()
	return &Client{log: log, opts: opts, subs: map[int]subscriber{}, ready: make(chan struct{})}
}

// SetTarget chooses the hub. It parses the fingerprint and URL and ends any session.
func (c *Client) SetTarget(t Target) error {
	pin, err := pki.ParseFingerprint(t.Fingerprint)
	if err != nil {
		return err
	}
	u, err := parseHubURL(t.URL)
	if err != nil {
		return err
	}
	c.stopSession()
	conf := pki.PinnedTLSConfig(pin, u.Hostname())
	// The pinned CA the hub presents is kept: audit heads are checked against
	// its key (internal/auditwatch).
	conf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		ca, err := pki.VerifyPinned(raw, pin, u.Hostname())
		if err == nil {
			c.ca.Store(ca)
		}
		return err
	}
	c.ca.Store(nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.tlsConf = u, conf
	c.httpc = &http.Client{
		Timeout: c.opts.RequestTimeout,
		Transport: &http.Transport{
			TLSClientConfig:     conf,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// SetHub is SetTarget for the console's HubClient interface.
func (c *Client) SetHub(url, fingerprint string) error {
	return c.SetTarget(Target{URL: url, Fingerprint: fingerprint})
}

// CA is the hub's CA certificate (the one whose fingerprint is pinned) as the
// hub presented it in the last TLS handshake; nil before the first.
func (c *Client) CA() *x509.Certificate { return c.ca.Load() }

// Target returns the chosen hub URL ("" if none).
func (c *Client) Target() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.base == nil {
		return ""
	}
	return c.base.String()
}

func parseHubURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parse hub URL: %w", err)
	}
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("parse hub URL: scheme must be https, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("parse hub URL: no host")
	}
	return &url.URL{Scheme: "https", Host: u.Host}, nil
}

// Setup creates the first admin with the hub's one-time setup code.
func (c *Client) Setup(ctx context.Context, req protocol.SetupRequest) (protocol.SetupResponse, error) {
	var out protocol.SetupResponse
	err := c.post(ctx, protocol.PathStaffSetup, req, &out)
	return out, err
}

// SetupOpen reports whether the hub still waits for its first admin (no staff
// account exists), so the console can open on first-run setup rather than
// login.
//
// The staff API has no read-only question for this (2026-12): the client asks
// by a setup attempt with no code and no account, which the hub refuses either
// with "setup is closed" (an account exists) or with "wrong or missing setup
// code" (setup is open), creating nothing. The attempt counts against the
// hub's per-address login limit and is audited as a refused setup (in the
// per-minute summary of anonymous refusals), so the console asks once per
// choice of hub, not on every login screen.
func (c *Client) SetupOpen(ctx context.Context) (bool, error) {
	err := c.post(ctx, protocol.PathStaffSetup, protocol.SetupRequest{}, &protocol.SetupResponse{})
	var he *HubError
	switch {
	case err == nil:
		return false, errors.New("setup probe: the hub accepted an empty setup request")
	case errors.As(err, &he) && he.Status == http.StatusForbidden && strings.Contains(he.Msg, "setup is closed"):
		return false, nil
	case errors.As(err, &he) && he.Status == http.StatusForbidden && strings.Contains(he.Msg, "setup code"):
		return true, nil
	}
	return false, fmt.Errorf("ask whether setup is open: %w", err)
}

// Login opens a session and starts the websocket link (dialled in the
// background; requests wait for it). A previous session is dropped.
func (c *Client) Login(ctx context.Context, req protocol.LoginRequest) (protocol.LoginResponse, error) {
	var out protocol.LoginResponse
	if err := c.post(ctx, protocol.PathStaffLogin, req, &out); err != nil {
		return out, err
	}
	if out.Session == "" || !out.Role.Valid() {
		return protocol.LoginResponse{}, fmt.Errorf("login: the hub answered no session or an unknown role %q", out.Role)
	}
	c.stopSession()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return protocol.LoginResponse{}, ErrClosed
	}
	c.session, c.login = out.Session, out
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel, c.runDone = cancel, make(chan struct{})
	go c.run(runCtx, out.Session, c.runDone)
	return out, nil
}

// Logout ends the session on the hub (best effort) and stops the link.
func (c *Client) Logout(ctx context.Context) error {
	c.mu.Lock()
	session := c.session
	c.mu.Unlock()
	c.stopSession()
	if session == "" {
		return nil
	}
	return c.postAuth(ctx, protocol.PathStaffLogout, session)
}

// Close stops the link and fails requests in flight. It waits for the client's
// goroutines to end.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stopSession()
	return nil
}

// stopSession cancels the run loop of the current session and waits for it.
func (c *Client) stopSession() {
	c.mu.Lock()
	cancel, done := c.cancel, c.runDone
	c.cancel, c.runDone, c.session = nil, nil, ""
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Subscribe registers callbacks for pushes and for link changes (up=false with
// the reason when the link drops; ErrSessionEnded means log in again). The first
// subscriber makes the client send OpSubscribe; after a reconnect it re-subscribes
// from the last event delivered. A subscriber that arrives on a live link is
// told up once its subscription stands. cancel removes the callbacks.
func (c *Client) Subscribe(push func(protocol.StaffPush), link func(up bool, err error)) (cancel func()) {
	c.mu.Lock()
	id := c.nextSub
	c.nextSub++
	first := len(c.subs) == 0
	c.subs[id] = subscriber{push: push, link: link}
	cur, since := c.cur, c.since
	c.mu.Unlock()
	if cur != nil {
		// Already connected: subscribe on the hub if nobody had, then tell this
		// subscriber the link is up (the connection's own report went before it).
		go func() {
			if first {
				if err := c.sendSubscribe(context.Background(), cur, since); err != nil {
					c.log.Warn("Subscribe failed", "err", err)
					return
				}
			}
			if link != nil {
				link(true, nil)
			}
		}()
	}
	return func() {
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
	}
}

// Terminals lists every terminal.
func (c *Client) Terminals(ctx context.Context) ([]protocol.TerminalView, error) {
	var out []protocol.TerminalView
	return out, c.Do(ctx, protocol.OpTerminals, nil, &out)
}

// Events lists stored events.
func (c *Client) Events(ctx context.Context, args protocol.EventsArgs) ([]protocol.EventView, error) {
	var out []protocol.EventView
	return out, c.Do(ctx, protocol.OpEvents, args, &out)
}

// Command sends an action to a terminal and waits for the agent's Result. A
// Result with OK false is returned without error: the agent answered.
func (c *Client) Command(ctx context.Context, terminal string, action protocol.Action, args map[string]string) (protocol.Result, error) {
	var out protocol.Result
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CommandTimeout)
		defer cancel()
	}
	return out, c.Do(ctx, protocol.OpCommand, protocol.CommandArgs{Terminal: terminal, Action: action, Args: args}, &out)
}

// TokenCreate makes an enrollment token (admin).
func (c *Client) TokenCreate(ctx context.Context, args protocol.TokenArgs) (protocol.TokenView, error) {
	var out protocol.TokenView
	return out, c.Do(ctx, protocol.OpTokenCreate, args, &out)
}

// Revoke revokes a terminal's certificate (admin).
func (c *Client) Revoke(ctx context.Context, terminal string) error {
	return c.Do(ctx, protocol.OpTerminalRevoke, protocol.TerminalArgs{Terminal: terminal}, nil)
}

// QuarantineList lists quarantined files (admin).
func (c *Client) QuarantineList(ctx context.Context) ([]protocol.QuarantineView, error) {
	var out []protocol.QuarantineView
	return out, c.Do(ctx, protocol.OpQuarantineList, nil, &out)
}

// StaffList lists staff accounts (admin).
func (c *Client) StaffList(ctx context.Context) ([]protocol.StaffView, error) {
	var out []protocol.StaffView
	return out, c.Do(ctx, protocol.OpStaffList, nil, &out)
}

// StaffCreate creates a staff account and returns its TOTP secret (admin).
func (c *Client) StaffCreate(ctx context.Context, args protocol.StaffCreateArgs) (protocol.SetupResponse, error) {
	var out protocol.SetupResponse
	return out, c.Do(ctx, protocol.OpStaffCreate, args, &out)
}

// StaffDisable disables a staff account (admin).
func (c *Client) StaffDisable(ctx context.Context, user string) error {
	return c.Do(ctx, protocol.OpStaffDisable, protocol.StaffArgs{User: user}, nil)
}

// AuditList lists audit records (admin).
func (c *Client) AuditList(ctx context.Context, args protocol.AuditArgs) ([]protocol.AuditView, error) {
	var out []protocol.AuditView
	return out, c.Do(ctx, protocol.OpAuditList, args, &out)
}

// AuditVerify checks the audit chain (admin).
func (c *Client) AuditVerify(ctx context.Context) (protocol.AuditVerifyView, error) {
	var out protocol.AuditVerifyView
	return out, c.Do(ctx, protocol.OpAuditVerify, nil, &out)
}

// HubInfo describes the hub and the logged-in member.
func (c *Client) HubInfo(ctx context.Context) (protocol.HubInfo, error) {
	var out protocol.HubInfo
	return out, c.Do(ctx, protocol.OpHubInfo, nil, &out)
}

// Report adds up the hub's usage counts over a range (any role).
func (c *Client) Report(ctx context.Context, args protocol.ReportArgs) (protocol.Report, error) {
	var out protocol.Report
	return out, c.Do(ctx, protocol.OpReport, args, &out)
}

// IMLS is a year's IMLS survey figures (any role).
func (c *Client) IMLS(ctx context.Context, year int) (protocol.IMLS, error) {
	var out protocol.IMLS
	return out, c.Do(ctx, protocol.OpIMLS, protocol.IMLSArgs{Year: year}, &out)
}

// SessionGet is a PC's patron session and its branch's rules (desk).
func (c *Client) SessionGet(ctx context.Context, terminal string) (protocol.SessionView, error) {
	var out protocol.SessionView
	return out, c.Do(ctx, protocol.OpSessionGet, protocol.TerminalArgs{Terminal: terminal}, &out)
}

// SessionTime adds minutes to (negative: removes them from) a PC's running
// session; the hub sends the PC the new grant (desk).
func (c *Client) SessionTime(ctx context.Context, terminal string, minutes int) (protocol.Grant, error) {
	var out protocol.Grant
	return out, c.Do(ctx, protocol.OpSessionTime, protocol.SessionTimeArgs{Terminal: terminal, Minutes: minutes}, &out)
}

// GuestCreate makes a batch of guest passes; the codes are shown once (desk).
func (c *Client) GuestCreate(ctx context.Context, args protocol.GuestCreateArgs) (protocol.GuestPassesView, error) {
	var out protocol.GuestPassesView
	return out, c.Do(ctx, protocol.OpGuestCreate, args, &out)
}

// RulesGet is the rules in force for a branch (admin).
func (c *Client) RulesGet(ctx context.Context, branch string) (protocol.BranchRules, error) {
	var out protocol.BranchRules
	return out, c.Do(ctx, protocol.OpRulesGet, protocol.RulesArgs{Branch: branch}, &out)
}

// RulesSet replaces a branch's rules and hours; nil: it follows the defaults
// (admin).
func (c *Client) RulesSet(ctx context.Context, branch string, r *protocol.Rules) error {
	return c.Do(ctx, protocol.OpRulesSet, protocol.RulesSetArgs{Branch: branch, Rules: r}, nil)
}

// ILSLink is the state of the hub's link to the library's ILS.
func (c *Client) ILSLink(ctx context.Context) (protocol.ILSLink, error) {
	var out protocol.ILSLink
	return out, c.Do(ctx, protocol.OpILSLink, nil, &out)
}

// APIKeys lists the API's keys, revoked ones too, never a secret (admin).
func (c *Client) APIKeys(ctx context.Context) ([]protocol.APIKeyView, error) {
	var out []protocol.APIKeyView
	return out, c.Do(ctx, protocol.OpAPIKeyList, nil, &out)
}

// APIKeyCreate makes an API key; its secret is in the answer this once (admin).
func (c *Client) APIKeyCreate(ctx context.Context, args protocol.APIKeyArgs) (protocol.APIKeyCreated, error) {
	var out protocol.APIKeyCreated
	return out, c.Do(ctx, protocol.OpAPIKeyCreate, args, &out)
}

// APIKeyRevoke revokes the API key with this ID (admin).
func (c *Client) APIKeyRevoke(ctx context.Context, id string) (protocol.APIKeyView, error) {
	var out protocol.APIKeyView
	return out, c.Do(ctx, protocol.OpAPIKeyRevoke, protocol.APIKeyRevokeArgs{Key: id}, &out)
}

// Webhooks lists the webhook targets with their delivered and dead-lettered
// counts, never a secret (admin).
func (c *Client) Webhooks(ctx context.Context) ([]protocol.WebhookView, error) {
	var out []protocol.WebhookView
	return out, c.Do(ctx, protocol.OpWebhookList, nil, &out)
}

// WebhookCreate registers a webhook target signed with args.Secret (admin).
func (c *Client) WebhookCreate(ctx context.Context, args protocol.WebhookArgs) (protocol.WebhookView, error) {
	var out protocol.WebhookView
	return out, c.Do(ctx, protocol.OpWebhookCreate, args, &out)
}

// WebhookDelete removes a webhook target (admin).
func (c *Client) WebhookDelete(ctx context.Context, id string) error {
	return c.Do(ctx, protocol.OpWebhookDelete, protocol.WebhookDeleteArgs{ID: id}, nil)
}

// Do sends one request and decodes the response body into out (nil: ignore it).
// It waits for the link while it is being (re)dialled, up to ctx or the request
// timeout.
func (c *Client) Do(ctx context.Context, op protocol.StaffOp, args any, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
		defer cancel()
	}
	var raw json.RawMessage
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("%s: encode args: %w", op, err)
		}
		raw = b
	}
	cn, err := c.waitConn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	resp, err := cn.request(ctx, c.newID(), op, raw)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if !resp.OK {
		return &HubError{Msg: resp.Error}
	}
	if out == nil || len(resp.Body) == 0 {
		return nil
	}
	if err := protocol.DecodeJSON(resp.Body, protocol.MaxFrame, out); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (c *Client) newID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextReq++
	return c.nextReq
}

func (c *Client) waitConn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		cur, ready, session, closed := c.cur, c.ready, c.session, c.closed
		c.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case cur != nil:
			return cur, nil
		case session == "":
			return nil, ErrNotLoggedIn
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the hub: %w", ctx.Err())
		}
	}
}

// run dials, serves and redials one session's link until ctx ends or the hub
// refuses the session.
func (c *Client) run(ctx context.Context, session string, done chan struct{}) {
	defer close(done)
	bo := c.newBackoff()
	failures := 0 // since the last good dial, for the log
	for ctx.Err() == nil {
		cn, err := c.dial(ctx, session)
		if err == nil {
			bo.Reset()
			failures = 0
			err = c.serve(ctx, cn)
		}
		if ctx.Err() != nil {
			return
		}
		c.notifyLink(false, err)
		if errors.Is(err, ErrSessionEnded) {
			c.mu.Lock()
			if c.session == session {
				c.session = ""
			}
			c.wake()
			c.mu.Unlock()
			return
		}
		failures++
		d := c.retryDelay(bo)
		if failures == 1 {
			c.log.Warn("Hub link down", "err", err, "retryIn", d)
		} else {
			c.log.Debug("Hub link down", "err", err, "retryIn", d, "attempt", failures)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// newBackoff is the redial backoff of one session: capped exponential with
// full jitter (internal/backoff), from BackoffMin up to BackoffMax.
func (c *Client) newBackoff() *backoff.Backoff {
	return &backoff.Backoff{Min: c.opts.BackoffMin, Max: c.opts.BackoffMax}
}

// retryDelay is the next redial delay: bo's, but never under half of
// BackoffMin, so a console whose link keeps failing at once does not redial in
// a tight loop. The n-th delay after a good connection (from 0) lies in
// [BackoffMin/2, min(BackoffMax, BackoffMin·2ⁿ)].
func (c *Client) retryDelay(bo *backoff.Backoff) time.Duration {
	return max(c.opts.BackoffMin/2, bo.Next())
}

// wake releases waitConn callers; c.mu must be held.
func (c *Client) wake() {
	close(c.ready)
	c.ready = make(chan struct{})
}

func (c *Client) notifyLink(up bool, err error) {
	c.mu.Lock()
	subs := slices.Collect(maps.Values(c.subs)) // called outside the lock
	c.mu.Unlock()
	for _, s := range subs {
		if s.link != nil {
			s.link(up, err)
		}
	}
}

func (c *Client) dial(ctx context.Context, session string) (*conn, error) {
	c.mu.Lock()
	base, conf, hook := c.base, c.tlsConf, c.dialHook
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	d := websocket.Dialer{
		TLSClientConfig:   conf.Clone(),
		HandshakeTimeout:  10 * time.Second,
		EnableCompression: false,
		NetDialContext:    (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	u := url.URL{Scheme: "wss", Host: base.Host, Path: protocol.PathStaff}
	h := http.Header{"Authorization": {"Bearer " + session}}
	ws, resp, err := d.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("dial hub: %w (HTTP %d)", ErrSessionEnded, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial hub: %w", err)
	}
	ws.SetReadLimit(protocol.MaxStaffFrame)
	return newConn(ws, c.opts), nil
}

// serve runs one connection: re-subscribes if anyone listens, publishes the
// connection to requests, and reads until it fails.
func (c *Client) serve(ctx context.Context, cn *conn) error {
	go cn.writeLoop()
	defer cn.close(ErrDisconnected)
	stop := context.AfterFunc(ctx, func() { cn.close(ErrClosed) })
	defer stop()

	c.mu.Lock()
	c.cur = cn
	c.wake()
	nsubs, since := len(c.subs), c.since
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.cur == cn {
			c.cur = nil
		}
		c.mu.Unlock()
	}()

	errc := make(chan error, 1)
	go func() { errc <- cn.readLoop(c.deliver) }()
	if nsubs > 0 {
		if err := c.sendSubscribe(ctx, cn, since); err != nil {
			cn.close(err)
			return <-errc
		}
	}
	c.notifyLink(true, nil)
	return <-errc
}

func (c *Client) sendSubscribe(ctx context.Context, cn *conn, since int64) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	raw, _ := json.Marshal(protocol.SubscribeArgs{SinceEvent: since})
	resp, err := cn.request(ctx, c.newID(), protocol.OpSubscribe, raw)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if !resp.OK {
		return fmt.Errorf("subscribe: %w", &HubError{Msg: resp.Error})
	}
	return nil
}

// deliver hands a push to every subscriber, dropping events already delivered
// (a catch-up may overlap what arrived live).
func (c *Client) deliver(p protocol.StaffPush) {
	c.mu.Lock()
	if p.Event != nil {
		if p.Event.ID <= c.since {
			c.mu.Unlock()
			return
		}
		c.since = p.Event.ID
	}
	subs := slices.Collect(maps.Values(c.subs)) // called outside the lock
	c.mu.Unlock()
	for _, s := range subs {
		if s.push != nil {
			s.push(p)
		}
	}
}

// LastEvent is the ID of the last event delivered to subscribers.
func (c *Client) LastEvent() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.since
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	c.mu.Lock()
	base, hc := c.base, c.httpc
	c.mu.Unlock()
	if base == nil {
		return errors.New("no hub chosen")
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reach hub: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxFrame+1))
	if err != nil {
		return fmt.Errorf("read hub answer: %w", err)
	}
	if err := statusError(resp.StatusCode, data); err != nil {
		return err
	}
	if err := protocol.DecodeJSON(data, protocol.MaxFrame, out); err != nil {
		return fmt.Errorf("hub answer: %w", err)
	}
	return nil
}

func (c *Client) postAuth(ctx context.Context, path, session string) error {
	c.mu.Lock()
	base, hc := c.base, c.httpc
	c.mu.Unlock()
	if base == nil {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+session)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reach hub: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxFrame+1))
	return statusError(resp.StatusCode, data)
}

func statusError(code int, data []byte) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusUnauthorized:
		return ErrBadCredentials
	case code == http.StatusTooManyRequests:
		return ErrRateLimited
	}
	var e protocol.ErrorResponse
	if protocol.DecodeJSON(data, protocol.MaxFrame, &e) == nil && e.Error != "" {
		return &HubError{Status: code, Msg: e.Error}
	}
	return &HubError{Status: code, Msg: http.StatusText(code)}
}
