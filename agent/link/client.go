package link

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Outbox is the durable queue the link drains (agent/outbox implements it).
type Outbox interface {
	// NextSeq is the number the next event will get.
	NextSeq() uint64
	// Pending returns up to max events with seq > after, in order.
	Pending(after uint64, max int) []protocol.Event
	// Ack drops every event with seq ≤ seq.
	Ack(seq uint64) error
	// Notify is signalled after an event is appended.
	Notify() <-chan struct{}
}

// StatusSource builds the PC's current status (agent/status implements it).
type StatusSource interface {
	Collect(ctx context.Context) protocol.Status
}

// Options configure a Client. Zero durations take the documented defaults.
type Options struct {
	HubURL   string
	StateDir string
	Outbox   Outbox
	Status   StatusSource
	// Changed reports whether a status differs enough to send at once; nil sends
	// only on connect and every StatusInterval.
	Changed func(prev, cur protocol.Status) bool
	// StatusNudge, if set, makes the status be compared (and sent if Changed)
	// at once rather than at the next StatusCheck: a seat that goes from
	// wiping to free shows in the console without waiting.
	StatusNudge <-chan struct{}
	Log         *slog.Logger

	StatusInterval   time.Duration   // full status even when unchanged; default 30s
	StatusCheck      time.Duration   // how often status is compared for changes; default 2s
	CommandTimeout   time.Duration   // per handler; default 2m
	Backoff          backoff.Backoff // default 1s → 60s
	RefusedRetry     time.Duration   // retry period after the hub refused the certificate; default 10m
	StableAfter      time.Duration   // a connection up this long resets the backoff; default 30s
	PingPeriod       time.Duration   // default 25s
	PongWait         time.Duration   // read deadline, extended by any frame or pong; default 60s
	WriteTimeout     time.Duration   // default 10s
	HandshakeTimeout time.Duration   // TLS + websocket handshake and Hello/Welcome; default 15s
	SendQueue        int             // frames queued per connection; default 64

	// Commands returns the handler of a staff action, nil when this agent does
	// not carry it out (answered "not supported"). It is asked only for actions
	// in the closed set, and never for ping, which the link answers itself. nil
	// supports ping only.
	Commands func(protocol.Action) protocol.CommandHandler
	// OnWelcome is called with each Welcome (the hub's truth to re-apply).
	OnWelcome func(protocol.Welcome)
	// OnGrant is called with each GrantUpdate (a changed grant for the
	// running patron session), on a goroutine of its own.
	OnGrant func(protocol.Grant)
	// OnCert is called with the certificate in use, at start and after renewal.
	OnCert func(*x509.Certificate)
	// OnRetry is called before each reconnect wait (for tests and metrics).
	OnRetry func(delay time.Duration, refused bool, err error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client keeps the agent connected to its hub. Create with New, then Run once.
type Client struct {
	opt     Options
	log     *slog.Logger
	now     func() time.Time
	seen    *seenStore
	results chan protocol.Result
	running chan struct{}
	wg      sync.WaitGroup // command handlers
	runCtx  context.Context

	mu       sync.Mutex // guards id.Cert, renewKey, sessions, live, down, waiting
	id       *Identity
	renewKey *renewState
	sessions sessionCache
	live     func(protocol.Message) error // the connection's send, nil while down
	down     chan struct{}                // closed when that connection ends
	waiting  map[string]chan protocol.SignInAnswer
}

// sessionCache is the TLS session to resume on the next connection (after a
// hub restart or a lost link: no certificate chains sent, signed and checked
// again). A resumed session carries the identity of the certificate it was
// made with, so the cache belongs to one certificate: a renewed one starts a
// new cache, and the hub sees the new certificate at once.
type sessionCache struct {
	cache tls.ClientSessionCache
	leaf  *x509.Certificate
}

// New loads the identity from StateDir. It fails with ErrNotEnrolled if the
// agent has not been enrolled.
func New(opt Options) (*Client, error) {
	if opt.Outbox == nil || opt.Status == nil {
		return nil, errors.New("link: Outbox and Status are required")
	}
	if _, err := hubBase(opt.HubURL); err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.StatusInterval, 30*time.Second)
	def(&opt.StatusCheck, 2*time.Second)
	def(&opt.CommandTimeout, 2*time.Minute)
	def(&opt.Backoff.Min, time.Second)
	def(&opt.Backoff.Max, 60*time.Second)
	def(&opt.RefusedRetry, 10*time.Minute)
	def(&opt.StableAfter, 30*time.Second)
	def(&opt.PingPeriod, 25*time.Second)
	def(&opt.PongWait, 60*time.Second)
	def(&opt.WriteTimeout, 10*time.Second)
	def(&opt.HandshakeTimeout, 15*time.Second)
	if opt.SendQueue <= 0 {
		opt.SendQueue = 64
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	id, err := LoadIdentity(opt.StateDir)
	if err != nil {
		return nil, err
	}
	seen, err := loadSeen(filepath.Join(opt.StateDir, seenFile), opt.Now())
	if err != nil {
		return nil, err
	}
	if !seen.ResetAt.IsZero() {
		opt.Log.Error("Record of seen commands was corrupt; refusing commands issued before now", "resetAt", seen.ResetAt)
	}
	c := &Client{
		opt: opt, log: opt.Log, now: opt.Now, seen: seen, id: id,
		results: make(chan protocol.Result, 256),
		running: make(chan struct{}, maxRunning),
	}
	return c, nil
}

// TerminalID is the ID the hub gave this agent.
func (c *Client) TerminalID() string { return c.id.TerminalID }

// handler is the handler of a known action: ping's own, or the agent's.
func (c *Client) handler(a protocol.Action) protocol.CommandHandler {
	if a == protocol.ActionPing {
		return pong
	}
	if c.opt.Commands == nil {
		return nil
	}
	return c.opt.Commands(a)
}

func pong(context.Context, map[string]string) (string, error) { return "pong", nil }

func (c *Client) cert() tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id.Cert
}

// sessionsFor returns the session cache of the current certificate.
func (c *Client) sessionsFor() tls.ClientSessionCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions.cache == nil || c.sessions.leaf != c.id.Cert.Leaf {
		c.sessions = sessionCache{cache: tls.NewLRUClientSessionCache(1), leaf: c.id.Cert.Leaf}
	}
	return c.sessions.cache
}

// RefusedError is a hub that answered but refused this agent (HTTP 401/403 on
// the websocket upgrade, or a TLS alert about the client certificate): the
// certificate is revoked, expired or unknown. Retrying fast will not help.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "the hub refused this terminal: " + e.Reason }

// Run keeps the link up until ctx is done; it returns nil then (cancellation is
// not an error). It waits for running command handlers before returning.
func (c *Client) Run(ctx context.Context) error {
	c.runCtx = ctx
	defer c.wg.Wait()
	if c.opt.OnCert != nil {
		c.opt.OnCert(c.cert().Leaf)
	}
	bo := c.opt.Backoff
	var lastErr string
	for {
		var up time.Duration
		var err error
		if leaf := c.cert().Leaf; leaf != nil && c.now().After(leaf.NotAfter) {
			err = c.renewExpired(ctx)
		}
		if err == nil {
			up, err = c.session(ctx)
		}
		if ctx.Err() != nil {
			return nil
		}
		if up >= c.opt.StableAfter {
			bo.Reset()
		}
		var delay time.Duration
		var refused *RefusedError
		isRefused := errors.As(err, &refused)
		if isRefused {
			half := c.opt.RefusedRetry / 2
			delay = half + bo.Within(half)
		} else {
			delay = bo.Next()
		}
		msg := err.Error()
		switch {
		case isRefused && msg != lastErr:
			c.log.Error("Hub refused this terminal's certificate; it may be revoked. Re-enroll with 'carrel-agent enroll'",
				"hub", c.opt.HubURL, "err", err, "retryIn", delay.Round(time.Second))
		case msg != lastErr:
			c.log.Warn("Link to hub down", "hub", c.opt.HubURL, "err", err, "upFor", up.Round(time.Millisecond), "retryIn", delay.Round(time.Millisecond))
		default:
			c.log.Debug("Link to hub down", "hub", c.opt.HubURL, "err", err, "retryIn", delay.Round(time.Millisecond))
		}
		lastErr = msg
		if c.opt.OnRetry != nil {
			c.opt.OnRetry(delay, isRefused, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// isCertRefusal recognises the TLS alerts a hub sends when it refuses the client
// certificate (crypto/tls does not export the alert type).
func isCertRefusal(err error) bool {
	s := err.Error()
	if !strings.Contains(s, "remote error: tls:") {
		return false
	}
	for _, a := range []string{"bad certificate", "certificate revoked", "certificate required", "unknown certificate authority", "expired certificate", "access denied", "certificate unknown"} {
		if strings.Contains(s, a) {
			return true
		}
	}
	return false
}
