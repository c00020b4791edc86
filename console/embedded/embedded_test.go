package embedded

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// embeddedHub is a hub started by a Starter in a temp dir on loopback, and a
// console client pinned to it.
type embeddedHub struct {
	s       *Starter
	url, fp string
	c       *hubclient.Client
	ctx     context.Context
	cancel  context.CancelFunc // stops the hub; s.Wait then returns
}

// startHub starts the hub; at the test's end the client closes and the hub
// stops (the test may stop it earlier with cancel).
func startHub(t *testing.T) *embeddedHub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &embeddedHub{s: &Starter{DataDir: filepath.Join(t.TempDir(), "hub"), Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)},
		ctx: ctx, cancel: cancel}
	var err error
	if h.url, h.fp, err = h.s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(h.s.Wait)
	t.Cleanup(cancel)
	h.c = hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	t.Cleanup(func() { h.c.Close() })
	if err := h.c.SetHub(h.url, h.fp); err != nil {
		t.Fatal(err)
	}
	return h
}

// The embedded hub starts, the console's client reaches it with its CA pinned,
// and it stops with its context. A login with unknown credentials gets the
// hub's refusal (so TLS with the pinned CA worked).
func TestEmbeddedHubReachable(t *testing.T) {
	h := startHub(t)
	s, c := h.s, h.c
	if url2, fp2, _ := s.Start(h.ctx); url2 != h.url || fp2 != h.fp {
		t.Fatal("a second Start started another hub")
	}
	lctx, lcancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer lcancel()
	_, err := c.Login(lctx, protocol.LoginRequest{User: "a", Password: "b", TOTP: "1"})
	if !errors.Is(err, hubclient.ErrBadCredentials) {
		t.Fatalf("login to the embedded hub: %v, want ErrBadCredentials (an answer through TLS with the pinned CA)", err)
	}
	h.cancel()
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the embedded hub did not stop with its context")
	}
}
