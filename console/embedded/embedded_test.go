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

// The embedded hub starts, the console's client reaches it with its CA pinned,
// and it stops with its context. A login with unknown credentials gets the
// hub's refusal (so TLS with the pinned CA worked).
func TestEmbeddedHubReachable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Starter{DataDir: filepath.Join(t.TempDir(), "hub"), Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)}
	url, fp, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if url2, fp2, _ := s.Start(ctx); url2 != url || fp2 != fp {
		t.Fatal("a second Start started another hub")
	}
	c := hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	defer c.Close()
	if err := c.SetHub(url, fp); err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	_, err = c.Login(lctx, protocol.LoginRequest{User: "a", Password: "b", TOTP: "1"})
	if !errors.Is(err, hubclient.ErrBadCredentials) {
		t.Fatalf("login to the embedded hub: %v, want ErrBadCredentials (an answer through TLS with the pinned CA)", err)
	}
	cancel()
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the embedded hub did not stop with its context")
	}
}
