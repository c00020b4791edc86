package embedded

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The console's client against the real hub (embedded): first-run setup with
// the code the hub wrote, login with a TOTP code, then requests on the staff
// websocket.
func TestClientAgainstRealHub(t *testing.T) {
	h := startHub(t)
	s, c, fp := h.s, h.c, h.fp
	rctx, rcancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer rcancel()

	code := s.SetupCode()
	setup := protocol.SetupRequest{SetupCode: code, User: "root", Password: "correct horse battery staple"}
	res, err := c.Setup(rctx, setup)
	if err != nil {
		t.Fatalf("setup with code %q: %v", code, err)
	}
	if s.SetupCode() != "" {
		t.Fatal("the setup code is still offered after setup")
	}
	if res.TOTPSecret == "" || !strings.HasPrefix(res.TOTPURI, "otpauth://") {
		t.Fatalf("setup answer %+v", res)
	}
	totpCode, err := totp.GenerateCodeCustom(res.TOTPSecret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(rctx, protocol.LoginRequest{User: "root", Password: "wrong password!!", TOTP: totpCode}); !errors.Is(err, hubclient.ErrBadCredentials) {
		t.Fatalf("wrong password: %v, want ErrBadCredentials", err)
	}
	lr, err := c.Login(rctx, protocol.LoginRequest{User: "root", Password: setup.Password, TOTP: totpCode})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if lr.Role != protocol.RoleAdmin {
		t.Fatalf("first account's role %q", lr.Role)
	}
	info, err := c.HubInfo(rctx)
	if err != nil {
		t.Fatalf("hub.info: %v", err)
	}
	if info.User != "root" || !strings.EqualFold(info.Fingerprint, fp) {
		t.Fatalf("hub.info %+v", info)
	}
	if _, err := c.Terminals(rctx); err != nil {
		t.Fatalf("terminals: %v", err)
	}
	tok, err := c.TokenCreate(rctx, protocol.TokenArgs{Uses: 2, TTL: time.Hour})
	if err != nil {
		t.Fatalf("token.create: %v", err)
	}
	if tok.Token == "" || tok.AgentCommand == "" {
		t.Fatalf("token %+v", tok)
	}
	// A subscription is accepted (the link reports up once it is).
	up := make(chan error, 4)
	defer c.Subscribe(func(protocol.StaffPush) {}, func(ok bool, err error) {
		if ok {
			up <- nil
		}
	})()
	select {
	case <-up:
	case <-rctx.Done():
		t.Fatal("the link never reported up after subscribing")
	}
	if _, err := c.Events(rctx, protocol.EventsArgs{Limit: 10}); err != nil {
		t.Fatalf("events: %v", err)
	}
	// A command to a terminal that does not exist is refused by the hub.
	if _, err := c.Command(rctx, "no-such-terminal", protocol.ActionLock, nil); err == nil {
		t.Fatal("a command to an unknown terminal succeeded")
	}
	if v, err := c.AuditVerify(rctx); err != nil || !v.OK {
		t.Fatalf("audit.verify: %+v, %v", v, err)
	}
}
