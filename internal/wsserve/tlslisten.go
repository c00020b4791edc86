package wsserve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// TLSListener is a TLS listener that takes TCP connections off the kernel's
// queue as fast as they arrive and runs their handshakes on a fixed set of
// workers; Accept returns connections whose handshake is done.
//
// crypto/tls's own listener leaves the handshake to each connection's
// goroutine. In a reconnect storm (a hub restarted under 10,000 agents)
// thousands of handshakes are runnable at once, the accepting goroutine waits
// behind them, the kernel's accept queue (net.core.somaxconn, 4096 on Debian 12)
// overflows, and the clients' kernels send the dropped SYNs again only after
// 1, 2, 4 and 8 s: that, not the CPU, is what kept the last agents away for 20 s.
// Here connections wait in the hub, in arrival order, for a worker.
type TLSListener struct {
	inner   net.Listener
	cfg     *tls.Config
	timeout time.Duration
	log     *slog.Logger

	queue   chan accepted // accepted, waiting for a worker
	ready   chan net.Conn // handshake done, waiting for Accept
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	waiting atomic.Int64

	once sync.Once
	mu   sync.Mutex
	err  error // why accepting ended
}

type accepted struct {
	c  net.Conn
	at time.Time
}

// TLSListenerOptions configure NewTLSListener; zero values take the defaults.
type TLSListenerOptions struct {
	Workers int           // handshakes at once; default 256 × GOMAXPROCS
	Queue   int           // accepted connections waiting for a worker; default 16,384, more are closed
	Timeout time.Duration // a handshake, counted from accept; default 10 s
	Log     *slog.Logger  // handshake failures, at debug level (scanners and strays are normal on an open port)
}

// NewTLSListener serves TLS with cfg on inner, which it owns from now on.
func NewTLSListener(inner net.Listener, cfg *tls.Config, opt TLSListenerOptions) *TLSListener {
	if opt.Workers <= 0 {
		opt.Workers = 256 * runtime.GOMAXPROCS(0)
	}
	if opt.Queue <= 0 {
		opt.Queue = 16384
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	l := &TLSListener{inner: inner, cfg: cfg, timeout: opt.Timeout, log: opt.Log,
		queue: make(chan accepted, opt.Queue), ready: make(chan net.Conn)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1 + opt.Workers)
	go l.acceptLoop()
	for range opt.Workers {
		go l.worker()
	}
	return l
}

// Accept returns the next connection whose TLS handshake has completed.
func (l *TLSListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, l.err
	}
}

// Addr is the address listened on.
func (l *TLSListener) Addr() net.Addr { return l.inner.Addr() }

// Waiting is how many accepted connections wait for a handshake worker.
func (l *TLSListener) Waiting() int { return int(l.waiting.Load()) }

// Close stops accepting, ends the handshakes under way and closes the
// connections still waiting; connections already returned are the caller's.
func (l *TLSListener) Close() error {
	err := l.stop(net.ErrClosed)
	l.wg.Wait()
	for {
		select {
		case a := <-l.queue:
			l.waiting.Add(-1)
			a.c.Close()
		default:
			return err
		}
	}
}

// stop ends accepting with why (the first reason is kept) and closes inner.
func (l *TLSListener) stop(why error) error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		l.err = why
		l.mu.Unlock()
		l.cancel()
		err = l.inner.Close()
	})
	return err
}

func (l *TLSListener) acceptLoop() {
	defer l.wg.Done()
	var delay time.Duration // after a temporary failure, as net/http does
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				l.stop(err)
				return
			}
			// Anything else (out of file descriptors, an aborted
			// connection) passes: wait a little and go on.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("Accept failed; retrying", "err", err, "in", delay)
			select {
			case <-time.After(delay):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		l.waiting.Add(1)
		select {
		case l.queue <- accepted{c: c, at: time.Now()}:
		default:
			l.waiting.Add(-1)
			l.log.Debug("Handshake queue full; connection closed", "remote", c.RemoteAddr().String())
			c.Close()
		}
	}
}

func (l *TLSListener) worker() {
	defer l.wg.Done()
	for {
		select {
		case <-l.ctx.Done():
			return
		case a := <-l.queue:
			l.waiting.Add(-1)
			if c := l.handshake(a); c != nil {
				select {
				case l.ready <- c:
				case <-l.ctx.Done():
					c.Close()
					return
				}
			}
		}
	}
}

// handshake completes a's TLS handshake by its deadline, or closes it.
func (l *TLSListener) handshake(a accepted) net.Conn {
	deadline := a.at.Add(l.timeout)
	if !time.Now().Before(deadline) { // waited too long: its client has given up
		a.c.Close()
		return nil
	}
	a.c.SetDeadline(deadline)
	tc := tls.Server(a.c, l.cfg)
	ctx, cancel := context.WithDeadline(l.ctx, deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.log.Debug("TLS handshake failed", "remote", a.c.RemoteAddr().String(), "err", err)
		a.c.Close()
		return nil
	}
	a.c.SetDeadline(time.Time{})
	return tc
}
