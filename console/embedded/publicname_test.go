package embedded

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The console reaches its embedded hub at 127.0.0.1, yet the enrollment lines
// it is given name the hub's public name (--embedded-name) and the package
// files carrel-package builds for its version.
func TestEmbeddedEnrollmentNamesPublicName(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Starter{DataDir: filepath.Join(t.TempDir(), "hub"), Listen: "127.0.0.1:0", Names: []string{"pc.example"},
		Version: "2.0.1", Log: slog.New(slog.DiscardHandler)}
	hubURL, fp, err := s.Start(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(s.Wait)
	t.Cleanup(cancel)
	u, _ := url.Parse(hubURL)
	if u.Hostname() != "127.0.0.1" {
		t.Fatalf("the console reaches its hub at %s, want 127.0.0.1", hubURL)
	}
	c := hubclient.New(slog.New(slog.DiscardHandler), hubclient.Options{})
	t.Cleanup(func() { c.Close() })
	if err := c.SetHub(hubURL, fp); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	setup := protocol.SetupRequest{SetupCode: s.SetupCode(), User: "root", Password: "correct horse battery staple"}
	res, err := c.Setup(rctx, setup)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(res.TOTPSecret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(rctx, protocol.LoginRequest{User: "root", Password: setup.Password, TOTP: code}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.TokenCreate(rctx, protocol.TokenArgs{Uses: 1, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := "wss://" + net.JoinHostPort("pc.example", u.Port())
	if tok.HubURL != want || tok.NoPublicName {
		t.Fatalf("token names %q (no public name %v), want %q", tok.HubURL, tok.NoPublicName, want)
	}
	for _, l := range []string{tok.AgentCommand, tok.MSICommand, tok.DebCommand} {
		if !strings.Contains(l, want) || strings.Contains(l, "127.0.0.1") {
			t.Errorf("line %q", l)
		}
	}
	if !strings.Contains(tok.MSICommand, "msiexec /i carrel-agent-2.0.1-x64.msi ") || !strings.HasSuffix(tok.DebCommand, "./carrel-agent_2.0.1-1_amd64.deb") {
		t.Errorf("package files: %q, %q", tok.MSICommand, tok.DebCommand)
	}
}
