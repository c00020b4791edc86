package hub

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/testrig/sip2emu"
)

func startILS(t testing.TB) *sip2emu.Server {
	t.Helper()
	emu, err := sip2emu.Start(sip2emu.Options{Quirks: sip2emu.QuirksFor("koha"), User: "hub", Password: "pw", Institution: "lib",
		Patrons: []sip2emu.Patron{{Card: "23456789", PIN: "4321", Name: "Jane Doe"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu
}

func withILS(emu *sip2emu.Server, timeout time.Duration) func(*Config) {
	return func(c *Config) {
		p, _ := sip2.ProfileByName("koha")
		c.SIP2 = &sip2.Config{Addr: emu.Addr(), Profile: p, User: "hub", Password: "pw", Institution: "lib", Timeout: timeout,
			Backoff: backoff.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond}}
	}
}

func welcomeKey(t testing.TB, w *protocol.Welcome) ed25519.PublicKey {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(w.GrantKey)
	if err != nil || len(k) != ed25519.PublicKeySize {
		t.Fatalf("Welcome.GrantKey = %q", w.GrantKey)
	}
	return ed25519.PublicKey(k)
}

// A card sign-in over a real mutual-TLS link: the grant verifies with the
// key Welcome carried, staff's added time arrives as a new signed grant, and
// the session is settled by the agent's session.ended.
func TestSignInOverTheLink(t *testing.T) {
	emu := startILS(t)
	th := startHub(t, withILS(emu, 2*time.Second))
	a, w := th.connect(t, th.mustEnroll(t, "pc-1"), 1, nil)
	pub := welcomeKey(t, w)
	if fi, err := os.Stat(filepath.Join(th.dir, GrantKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("grant key file: %v %v", fi, err)
	}

	a.send(&protocol.SignIn{ID: "s-1", Card: "23456789", PIN: "9999"})
	ans := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer)
	if ans.ID != "s-1" || ans.Refusal != protocol.RefusePIN {
		t.Fatalf("wrong PIN answered %+v", ans)
	}
	a.send(&protocol.SignIn{ID: "s-2", Card: "23456789", PIN: "4321"})
	ans = a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer)
	if ans.ID != "s-2" || ans.Grant == nil {
		t.Fatalf("answer %+v, want a grant", ans)
	}
	g := *ans.Grant
	if err := protocol.VerifyGrant(g, pub); err != nil {
		t.Fatalf("grant does not verify with Welcome.GrantKey: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if protocol.VerifyGrant(g, other) == nil {
		t.Fatal("grant verifies with any key")
	}
	if l := th.ILSLink(); l.State != protocol.ILSUp || l.Profile != "koha" {
		t.Errorf("ILS link %+v", l)
	}

	ng, err := th.AddTime(context.Background(), "pc-1", 10, "desk")
	if err != nil {
		t.Fatal(err)
	}
	up := a.expect(protocol.TypeGrant).(*protocol.GrantUpdate)
	if up.Grant.ID != g.ID || !up.Grant.Ends.Equal(ng.Ends) || !up.Grant.Ends.After(g.Ends) {
		t.Fatalf("grant update %+v after %+v", up.Grant, g)
	}
	if err := protocol.VerifyGrant(up.Grant, pub); err != nil {
		t.Fatal(err)
	}

	a.send(&protocol.Event{Seq: 1, Time: time.Now().UTC(), Kind: protocol.EventSessionEnded, Severity: protocol.SeverityInfo,
		Data: map[string]string{protocol.DataGrant: g.ID, protocol.DataUsed: "120", protocol.DataEndReason: protocol.EndPatron}})
	a.waitAck(1)
	waitFor(t, 5*time.Second, "session settled", func() bool {
		ps, err := th.Store().PatronSessionByID(context.Background(), g.ID)
		return err == nil && !ps.Ended.IsZero() && ps.Used == 120
	})
}

// A slow ILS does not hold up the connection: events are acknowledged while
// the sign-in waits, and the answer comes within the SIP2 timeout.
func TestSignInOffTheReader(t *testing.T) {
	emu := startILS(t)
	emu.SetFault(sip2emu.Fault{Kind: sip2emu.FaultNoReply})
	th := startHub(t, withILS(emu, 1500*time.Millisecond))
	a, _ := th.connect(t, th.mustEnroll(t, "pc-1"), 1, nil)
	start := time.Now()
	a.send(&protocol.SignIn{ID: "s-1", Card: "23456789", PIN: "4321"})
	// A second sign-in while the first runs is refused at once.
	a.send(&protocol.SignIn{ID: "s-2", Card: "23456789", PIN: "4321"})
	a.send(event(1))
	if ans := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer); ans.ID != "s-2" || ans.Refusal != protocol.RefuseError {
		t.Fatalf("second sign-in answered %+v", ans)
	}
	a.waitAck(1)
	if took := time.Since(start); took > time.Second {
		t.Errorf("event acknowledged after %v: the sign-in blocked the reader", took)
	}
	ans := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer)
	if ans.ID != "s-1" || ans.Refusal != protocol.RefuseILSDown {
		t.Fatalf("answer %+v, want ils-down", ans)
	}
	if took := time.Since(start); took > 1500*time.Millisecond+time.Second {
		t.Errorf("answered after %v", took)
	}
	if l := th.ILSLink(); l.State != protocol.ILSDown || l.LastError == "" {
		t.Errorf("ILS link %+v", l)
	}
}

// A hub restart keeps the session, its end, and the grant key.
func TestHubRestartKeepsPatronSession(t *testing.T) {
	emu := startILS(t)
	dir := filepath.Join(t.TempDir(), "data")
	cfg := func(c *Config) { withILS(emu, 2*time.Second)(c); c.DataDir = dir }
	th := startHub(t, cfg)
	cr := th.mustEnroll(t, "pc-1")
	a, w := th.connect(t, cr, 1, nil)
	a.send(&protocol.SignIn{ID: "s-1", Card: "23456789", PIN: "4321"})
	g := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer).Grant
	if g == nil {
		t.Fatal("no grant")
	}
	if err := th.stop(t); err != nil {
		t.Fatal(err)
	}
	th2 := startHub(t, cfg)
	a2, w2 := th2.connect(t, cr, 1, nil)
	if w2.GrantKey != w.GrantKey {
		t.Errorf("grant key changed across a restart")
	}
	// The reconnected agent gets its session's grant again, with the seconds
	// left (not the whole session again), signed with the same key.
	up := a2.expect(protocol.TypeGrant).(*protocol.GrantUpdate)
	if up.Grant.ID != g.ID || !up.Grant.Ends.Equal(g.Ends) || up.Grant.Seconds > g.Seconds || up.Grant.Seconds < g.Seconds-30 {
		t.Errorf("grant after restart %+v, first %+v", up.Grant, g)
	}
	if err := protocol.VerifyGrant(up.Grant, welcomeKey(t, w2)); err != nil {
		t.Error(err)
	}
	got, err := th2.Patron().Session(context.Background(), cr.id)
	if err != nil || got.ID != g.ID || !got.Ends.Equal(g.Ends) {
		t.Fatalf("after restart: %+v, %v; want %s ending %v", got, err, g.ID, g.Ends)
	}
}

// The ILS not configured: cards are refused as ils-down at once; the link
// says so.
func TestSignInWithoutILS(t *testing.T) {
	th := startHub(t, nil)
	a, _ := th.connect(t, th.mustEnroll(t, "pc-1"), 1, nil)
	a.send(&protocol.SignIn{ID: "s-1", Card: "23456789", PIN: "4321"})
	if ans := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer); ans.Refusal != protocol.RefuseILSDown {
		t.Fatalf("answer %+v", ans)
	}
	if l := th.ILSLink(); l.State != protocol.ILSNotConfigured {
		t.Errorf("link %+v", l)
	}
	if _, err := th.AddTime(context.Background(), "pc-1", 5, "desk"); err == nil {
		t.Error("time added to no session")
	}
}

// FuzzSignInFrame feeds arbitrary frames through the hub's frame decoding
// and, when one is a SignIn, through the sign-in service of a real hub (real
// store, no ILS): every SignIn gets an answer with its ID that validates, and
// nothing but a refusal (no ILS, no such guest pass).
func FuzzSignInFrame(f *testing.F) {
	for _, m := range []*protocol.SignIn{{ID: "s", Card: "1234", PIN: "1"}, {ID: "s", Guest: "ACDE-FGHJ-KMNPQ"},
		{ID: "s", Card: "1234"}} {
		b, err := protocol.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{"v":1,"type":"signin","body":{"id":"s","card":"12|34","pin":"\r"}}`,
		`{"v":1,"type":"signin","body":{"id":"","guest":"a"}}`, `{"v":1,"type":"signin","body":{}}`, "{",
		`{"v":1,"type":"signin","body":{"id":"s","guest":"x","pin":"1"}}`} {
		f.Add([]byte(s))
	}
	h, err := New(Config{DataDir: filepath.Join(f.TempDir(), "data"), Listen: "127.0.0.1:0", NoControlSocket: true},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, _, _ := classifyFrame(1, data)
		si, ok := m.(*protocol.SignIn)
		if !ok {
			return
		}
		a := h.patron.SignIn(context.Background(), "pc", "", *si)
		if a.ID != si.ID || a.Grant != nil {
			t.Fatalf("answer %+v to %v", a, si)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("answer does not validate: %v", err)
		}
	})
}

// A PC staff locked is not free: its sign-in is refused without asking the
// ILS.
func TestSignInOnALockedPC(t *testing.T) {
	emu := startILS(t)
	th := startHub(t, withILS(emu, 2*time.Second))
	cr := th.mustEnroll(t, "pc-1")
	a, _ := th.connect(t, cr, 1, pong)
	if res, err := th.SendCommand(context.Background(), cr.id, protocol.ActionLock, nil, "desk"); err != nil || !res.OK {
		t.Fatalf("lock: %+v %v", res, err)
	}
	before := emu.Stats().PatronRequests
	a.send(&protocol.SignIn{ID: "s-1", Card: "23456789", PIN: "4321"})
	if ans := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer); ans.Refusal != protocol.RefuseNotFree {
		t.Fatalf("answer %+v, want not-free", ans)
	}
	if emu.Stats().PatronRequests != before {
		t.Error("the ILS was asked about a sign-in at a locked PC")
	}
}
