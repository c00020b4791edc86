package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
)

// AgentDir is the state directory of simulated agent i under dir: its identity
// (as link.Enroll stores it) and its outbox.
func AgentDir(dir string, i int) string {
	return filepath.Join(dir, "agents", fmt.Sprintf("a%05d", i))
}

// EnrollOptions configure Enroll.
type EnrollOptions struct {
	HubURL      string // wss://127.0.0.1:PORT
	Token       string // an enrollment token with at least N uses
	Fingerprint string
	N           int
	Dir         string
	Concurrency int           // enrollments in flight; default 8
	Patience    time.Duration // how long to keep retrying refusals for rate (HTTP 429); default 30m
	Out         io.Writer     // progress; nil discards
}

// Enroll gives agents 0..N-1 under Dir an identity each with link.Enroll (the
// agent's own enrollment code: key made here, CSR + token to the hub, pinned CA),
// skipping those that already have one, so later runs reuse them. It returns how
// many were enrolled now and how many existed.
//
// A hub with default settings allows 10 enrollments a minute per address (burst
// 20); refusals for rate are retried after Retry-After. For thousands of agents
// from one loopback address use EnrollInProcess.
func Enroll(ctx context.Context, opt EnrollOptions) (enrolled, existing int, err error) {
	if opt.N < 1 {
		return 0, 0, errors.New("enroll: N must be at least 1")
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	if opt.Patience <= 0 {
		opt.Patience = 30 * time.Minute
	}
	out := opt.Out
	if out == nil {
		out = io.Discard
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, "agents"), 0o700); err != nil {
		return 0, 0, fmt.Errorf("enroll: %w", err)
	}
	deadline := time.Now().Add(opt.Patience)
	var done, had atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range opt.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				err := enrollOne(ctx, opt, i, deadline)
				switch {
				case errors.Is(err, errExists):
					had.Add(1)
				case err != nil:
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("enroll agent %d: %w", i, err)
					}
					errMu.Unlock()
				default:
					if n := done.Add(1); n%500 == 0 {
						fmt.Fprintf(out, "enroll: %d enrolled (%v)\n", n, time.Since(start).Round(time.Second))
					}
				}
			}
		}()
	}
feed:
	for i := range opt.N {
		errMu.Lock()
		failed := firstErr != nil
		errMu.Unlock()
		if failed {
			break
		}
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return int(done.Load()), int(had.Load()), firstErr
}

var errExists = errors.New("already enrolled")

func enrollOne(ctx context.Context, opt EnrollOptions, i int, deadline time.Time) error {
	dir := AgentDir(opt.Dir, i)
	if _, err := link.LoadIdentity(dir); err == nil {
		return errExists
	} else if !errors.Is(err, link.ErrNotEnrolled) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for {
		_, err := link.Enroll(ctx, link.EnrollOptions{
			HubURL: opt.HubURL, Token: opt.Token, Fingerprint: opt.Fingerprint, StateDir: dir,
			Hostname: fmt.Sprintf("lg-%05d", i), Timeout: time.Minute,
		})
		if err == nil || !errors.Is(err, link.ErrEnrollRefused) || !strings.Contains(err.Error(), "HTTP 429") || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(61 * time.Second) // the hub's Retry-After
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// EnrollInProcess enrolls agents 0..n-1 under dir against a hub run in this
// process on hubData (which must not be served by another hub at the same time:
// the control socket check refuses that), listening on 127.0.0.1 with the
// enrollment rate limit lifted. Everything else is the real path: a token created
// in the hub's store, link.Enroll over TLS, the hub's enrollment handler.
func EnrollInProcess(ctx context.Context, hubData string, n int, dir string, out io.Writer) (enrolled, existing int, err error) {
	if err := os.MkdirAll(hubData, 0o700); err != nil {
		return 0, 0, err
	}
	h, err := hub.New(hub.Config{DataDir: hubData, Listen: "127.0.0.1:0", EnrollPerMinute: 1e9, EnrollBurst: 1 << 30},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- h.Run(rctx) }()
	defer func() {
		cancel()
		if rerr := <-ran; err == nil {
			err = rerr
		}
	}()
	tok, hash, err := pki.NewToken()
	if err != nil {
		return 0, 0, err
	}
	if err := h.Store().CreateToken(ctx, hash, n, time.Now().Add(time.Hour), "loadgen"); err != nil {
		return 0, 0, err
	}
	return Enroll(ctx, EnrollOptions{HubURL: "wss://" + h.Addr().String(), Token: tok, Fingerprint: h.Fingerprint(),
		N: n, Dir: dir, Concurrency: 16, Out: out})
}
