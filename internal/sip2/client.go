package sip2

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
)

// ErrUnavailable is what every failure to get a usable answer from the ILS
// matches (errors.Is): down, refused, timed out, dropped, a login refused,
// or a reply that could not be read. For the hub it means "card sign-in is
// unavailable"; the error's chain says which.
var ErrUnavailable = errors.New("sip2: card sign-in unavailable")

// ErrLoginRefused: the ACS answered the hub's 93 with ok=0 (wrong SIP
// account, or the account is not allowed from this address).
var ErrLoginRefused = errors.New("ILS refused the SIP login")

// ErrOffline: the ACS answered the 99 with on-line status N.
var ErrOffline = errors.New("ILS says it is off-line")

// ErrDown: a connection failed recently and the backoff has not yet run
// out; the request is refused at once instead of dialling again.
var ErrDown = errors.New("ILS unreachable, waiting before the next try")

// ErrClosed: the client was closed.
var ErrClosed = errors.New("sip2 client closed")

// Error is a failed exchange with the ILS: Op is what was being done
// ("connect", "login", "patron lookup"). It matches ErrUnavailable.
type Error struct {
	Op  string
	Err error
}

func (e *Error) Error() string          { return "sip2: " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error          { return e.Err }
func (e *Error) Is(target error) bool   { return target == ErrUnavailable }
func newErr(op string, err error) error { return &Error{Op: op, Err: err} }

// Config is a Client's connection to one ILS.
type Config struct {
	// Addr is host:port of the ILS's SIP2 service.
	Addr string
	// TLS, when not nil, wraps each connection (ServerName defaults to
	// Addr's host).
	TLS *tls.Config
	// Profile is the ILS's dialect (ProfileByName); the zero Profile is
	// the generic one.
	Profile Profile
	// User, Password and Location are the hub's own SIP account, sent in a
	// 93 on each new connection; an empty User skips the login (ILSes that
	// authorise by address).
	User, Password, Location string
	// Institution (AO) and TerminalPassword (AC) go in each patron request.
	Institution, TerminalPassword string
	// PoolSize is how many connections are kept (default 2). A connection
	// carries one lookup at a time, so n connections answer n lookups per
	// ILS answer time; a lookup that waits past Timeout fails.
	PoolSize int
	// Timeout bounds each Authenticate, connecting and retrying included
	// (default 5 s).
	Timeout time.Duration
	// Backoff spaces reconnects after a failed connection, during which
	// lookups fail at once with ErrDown; the zero value is 500 ms doubling
	// to 10 s (the longest a patron waits after the ILS is back).
	Backoff backoff.Backoff
	// Log receives connection events; never a card number, PIN or message.
	Log *slog.Logger
	// Now is the clock for transaction dates and expiry (default time.Now).
	Now func() time.Time
}

// Client asks one ILS about patrons over a small pool of SIP2 connections.
// It is safe for concurrent use; each connection carries one request at a
// time.
type Client struct {
	cfg    Config
	log    *slog.Logger
	tokens chan struct{} // PoolSize tokens: one per connection in use or to be made

	mu       sync.Mutex // guards the fields below
	idle     []*conn    // open connections not in use, the last used on top
	bo       backoff.Backoff
	nextDial time.Time
	lastFail string // last connect error, to log repeats at Debug
	live     map[*conn]struct{}
	closed   bool
	done     chan struct{}
}

// New checks cfg and returns a client; it connects lazily, on the first
// request.
func New(cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("sip2: no ILS address")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("sip2: ILS address: %w", err)
	}
	if cfg.Profile.Name == "" {
		cfg.Profile, _ = ProfileByName(ProfileGeneric)
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = 500 * time.Millisecond
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: log.With("ils", cfg.Addr, "profile", cfg.Profile.Name),
		tokens: make(chan struct{}, cfg.PoolSize), bo: cfg.Backoff,
		live: map[*conn]struct{}{}, done: make(chan struct{})}
	return c, nil
}

// Close closes every connection, aborting requests in flight; it is safe to
// call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	for cn := range c.live {
		cn.nc.Close()
	}
	c.idle = nil
	c.mu.Unlock()
	return nil
}

// Authenticate asks the ILS whether card and pin may sign in. A nil error
// means the ILS answered, and Patron.Outcome says what; an error matches
// ErrUnavailable (or is ctx's error). The card and PIN appear in no log line
// and no error. A lookup whose connection dropped is retried once on a
// fresh connection (it changes nothing on the ILS).
func (c *Client) Authenticate(ctx context.Context, card, pin string) (Patron, error) {
	// A card or PIN SIP2 cannot carry (a '|', a control character, a
	// character outside the charset) cannot be the ILS's either: answered
	// here, without asking.
	cs := c.cfg.Profile.Charset
	if _, err := cs.append(nil, card); err != nil || card == "" {
		return Patron{Outcome: OutcomeUnknownCard}, nil
	}
	if _, err := cs.append(nil, pin); err != nil {
		return Patron{Outcome: OutcomePINWrong}, nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req := PatronRequest{Code: c.cfg.Profile.Request, Institution: c.cfg.Institution,
		TerminalPassword: c.cfg.TerminalPassword, Card: card, PIN: pin, Now: c.cfg.Now()}.Message()
	want := "64"
	if req.Code == "23" {
		want = "24"
	}
	var reply Message
	var err error
	for attempt := 0; ; attempt++ {
		reply, err = c.do(ctx, req, want)
		if err == nil || attempt > 0 || !dropped(err) || ctx.Err() != nil {
			break
		}
		c.log.Info("SIP2 connection dropped during a lookup, retrying once", "err", err)
	}
	if err != nil {
		if parent.Err() != nil {
			return Patron{}, parent.Err() // cancelled by the caller: not the ILS's failure
		}
		return Patron{}, err
	}
	p, err := c.cfg.Profile.Interpret(reply, pin != "", c.cfg.Now())
	if err != nil {
		return Patron{}, newErr("patron lookup", err)
	}
	return p, nil
}

// Status checks that the ILS answers: it takes a pooled connection (making
// one, with its login and 99/98, if none is open) and sends a 99.
func (c *Client) Status(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	reply, err := c.do(ctx, SCStatusRequest(), "98")
	if err != nil {
		return err
	}
	if on, err := ACSOnline(reply); err != nil || !on {
		return newErr("status", errors.Join(ErrOffline, err))
	}
	return nil
}

// do sends req on a pooled connection and returns the reply with code want.
// A connection that failed in any way is closed, never reused.
func (c *Client) do(ctx context.Context, req Message, want string) (Message, error) {
	op := "patron lookup"
	if req.Code == "99" {
		op = "status"
	}
	select {
	case c.tokens <- struct{}{}:
	case <-c.done:
		return Message{}, newErr(op, ErrClosed)
	case <-ctx.Done():
		return Message{}, newErr(op, fmt.Errorf("waiting for a connection: %w", ctx.Err()))
	}
	defer func() { <-c.tokens }()
	// The most recently used connection first: sequential lookups keep to
	// one connection, and an idle one the ILS may have timed out sinks.
	c.mu.Lock()
	var cn *conn
	if n := len(c.idle); n > 0 {
		cn, c.idle = c.idle[n-1], c.idle[:n-1]
	}
	c.mu.Unlock()
	if cn == nil {
		var err error
		if cn, err = c.connect(ctx); err != nil {
			return Message{}, err
		}
	}
	reply, err := cn.exchange(ctx, req, want)
	if err != nil {
		c.drop(cn)
		if dropped(err) {
			// The ILS closed one connection: most likely it restarted and
			// the idle ones are dead too; the retry should dial.
			c.mu.Lock()
			stale := c.idle
			c.idle = nil
			c.mu.Unlock()
			for _, s := range stale {
				c.drop(s)
			}
		}
		return Message{}, newErr(op, c.timedOut(err))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.drop(cn)
	} else {
		c.idle = append(c.idle, cn)
		c.mu.Unlock()
	}
	return reply, nil
}

// connect dials, logs in and checks the ACS status, unless a connection
// failed recently and the backoff says wait.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, newErr("connect", ErrClosed)
	}
	if wait := time.Until(c.nextDial); wait > 0 {
		c.mu.Unlock()
		return nil, newErr("connect", fmt.Errorf("%w (%v)", ErrDown, wait.Round(time.Millisecond)))
	}
	c.mu.Unlock()

	cn, err := c.open(ctx)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			c.nextDial = time.Now().Add(c.bo.Next())
		}
		if msg := err.Error(); msg != c.lastFail {
			c.log.Warn("SIP2 connection failed", "err", err, "attempt", c.bo.Attempts())
			c.lastFail = msg
		} else {
			c.log.Debug("SIP2 connection failed", "err", err, "attempt", c.bo.Attempts())
		}
		return nil, err
	}
	if c.closed {
		cn.nc.Close()
		return nil, newErr("connect", ErrClosed)
	}
	if c.lastFail != "" {
		c.log.Info("SIP2 connection restored")
	}
	c.lastFail = ""
	c.bo.Reset()
	c.nextDial = time.Time{}
	c.live[cn] = struct{}{}
	c.log.Debug("SIP2 connected", "tls", c.cfg.TLS != nil)
	return cn, nil
}

func (c *Client) open(ctx context.Context) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, newErr("connect", c.timedOut(err))
	}
	if c.cfg.TLS != nil {
		tc := c.cfg.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(c.cfg.Addr)
		}
		t := tls.Client(nc, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, newErr("connect", fmt.Errorf("tls: %w", err))
		}
		nc = t
	}
	cn := &conn{nc: nc, r: NewReader(nc), prof: c.cfg.Profile}
	if c.cfg.User != "" {
		reply, err := cn.exchange(ctx, LoginRequest(c.cfg.User, c.cfg.Password, c.cfg.Location), "94")
		if err == nil {
			var ok bool
			if ok, err = LoginOK(reply); err == nil && !ok {
				err = ErrLoginRefused
			}
		}
		if err != nil {
			nc.Close()
			return nil, newErr("login", c.timedOut(err))
		}
	}
	reply, err := cn.exchange(ctx, SCStatusRequest(), "98")
	if err == nil {
		var on bool
		if on, err = ACSOnline(reply); err == nil && !on {
			err = ErrOffline
		}
	}
	if err != nil {
		nc.Close()
		return nil, newErr("status", c.timedOut(err))
	}
	return cn, nil
}

// timedOut names the timeout in a deadline error.
func (c *Client) timedOut(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no answer within %v: %w", c.cfg.Timeout, err)
	}
	return err
}

func (c *Client) drop(cn *conn) {
	cn.nc.Close()
	c.mu.Lock()
	delete(c.live, cn)
	c.mu.Unlock()
}

// conn is one SIP2 connection, used by one request at a time.
type conn struct {
	nc   net.Conn
	r    *Reader
	prof Profile
	seq  int
	out  []byte
}

// exchange sends m and reads its answer, within ctx's deadline. It follows
// the standard's error detection: a reply with a bad checksum is answered
// with a 97 (resend) once, a 96 from the ACS makes it send again once.
func (cn *conn) exchange(ctx context.Context, m Message, want string) (Message, error) {
	if dl, ok := ctx.Deadline(); ok {
		cn.nc.SetDeadline(dl)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		cn.nc.SetDeadline(time.Unix(1, 0)) // unblock the read or write now
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired // never let it land on the next request's deadline
		}
	}()

	seq := cn.seq
	cn.seq = (cn.seq + 1) % 10
	var err error
	if cn.out, err = Encode(cn.out[:0], m, cn.prof.Framing, seq); err != nil {
		return Message{}, err
	}
	if _, err := cn.nc.Write(cn.out); err != nil {
		return Message{}, err
	}
	resent := false
	for {
		raw, err := cn.r.ReadMessage()
		if err != nil {
			return Message{}, err
		}
		reply, err := Decode(raw, cn.prof.Charset)
		switch {
		case errors.Is(err, ErrChecksum) && !resent:
			// Ask the ACS to send its reply again (97), under the
			// request's sequence number: the resent reply carries it.
			resent = true
			b, _ := Encode(nil, Message{Code: "97"}, cn.prof.Framing, seq)
			if _, err := cn.nc.Write(b); err != nil {
				return Message{}, err
			}
			continue
		case err != nil:
			return Message{}, err
		case reply.Code == "96" && !resent:
			resent = true
			if _, err := cn.nc.Write(cn.out); err != nil {
				return Message{}, err
			}
			continue
		case reply.Code == "96":
			return Message{}, &DecodeError{Code: "96", Err: fmt.Errorf("%w: the ILS refused the request twice", ErrUnexpectedReply)}
		}
		if cn.prof.RequireChecksum && !reply.Checksummed {
			return Message{}, &DecodeError{Code: reply.Code, Err: ErrNoChecksum}
		}
		if cn.prof.Checksums && reply.Seq != NoSeq && reply.Seq != seq {
			return Message{}, &DecodeError{Code: reply.Code, Field: "AY", Err: ErrSequence}
		}
		if reply.Code != want {
			return Message{}, unexpected(want, reply.Code)
		}
		return reply, nil
	}
}

// dropped says err is the connection going away (the ILS closed it, reset
// it, or cut a reply short), not a timeout or a bad reply.
func dropped(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	// A reset or broken pipe: the syscall errors differ per OS, the
	// operation does not.
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "read" || op.Op == "write")
}
