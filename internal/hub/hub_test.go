package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

func pong(c *protocol.Command) *protocol.Result {
	return &protocol.Result{ID: c.ID, OK: true, Output: "pong " + string(c.Action), Time: time.Now().UTC()}
}

func TestEnrollConnectEventsStatus(t *testing.T) {
	th := startHub(t, nil)
	ctx := context.Background()
	c := th.mustEnroll(t, "pc-01")
	term, err := th.Store().Terminal(ctx, c.id)
	if err != nil || term.Name != "pc-01" || term.Online || !strings.HasPrefix(c.id, "t-") || len(c.id) != 18 {
		t.Fatalf("enrolled terminal: %+v %v", term, err)
	}
	a, w := th.connect(t, c, 1, nil)
	if w.TerminalID != c.id || w.AckedSeq != 0 || w.Locked {
		t.Fatalf("welcome: %+v", w)
	}
	for seq := uint64(1); seq <= 5; seq++ {
		a.send(event(seq))
	}
	a.waitAck(5)
	evs, err := th.Store().Events(ctx, c.id, 0, 100)
	if err != nil || len(evs) != 5 || evs[4].Data["file"] != "setup-5.exe" {
		t.Fatalf("stored events: %+v %v", evs, err)
	}
	st := status(c.id)
	st.Session = protocol.SessionInUse
	a.send(&st)
	waitFor(t, 5*time.Second, "status stored", func() bool {
		term, _ := th.Store().Terminal(ctx, c.id)
		return term.Online && strings.Contains(string(term.LastStatus), `"session":"in-use"`) && term.OSVersion == "debian 12"
	})
	a.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	waitFor(t, 5*time.Second, "terminal offline", func() bool {
		term, _ := th.Store().Terminal(ctx, c.id)
		return !term.Online
	})
	// Reconnecting: Welcome carries the stored seq, so the agent drops those.
	_, w = th.connect(t, c, 6, nil)
	if w.AckedSeq != 5 {
		t.Fatalf("welcome after reconnect: acked %d, want 5", w.AckedSeq)
	}
}

func TestNoClientCertificate(t *testing.T) {
	th := startHub(t, nil)
	_, resp, err := th.dial(nil, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial without a certificate: resp=%v err=%v, want 401", resp, err)
	}
}

func TestCertificateFromAnotherCA(t *testing.T) {
	th := startHub(t, nil)
	other, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	csr, key := newCSR(t)
	certPEM, _, _, err := other.SignCSR(csr, "t-0000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(certPEM), pemKey(t, key))
	if err != nil {
		t.Fatal(err)
	}
	ws, resp, err := th.dial(&cert, nil)
	if err == nil {
		ws.Close()
		t.Fatal("a certificate from another CA was accepted")
	}
	if resp != nil {
		t.Fatalf("got an HTTP answer (%d): the TLS handshake should have failed", resp.StatusCode)
	}
	// The hub is fine afterwards.
	th.connect(t, th.mustEnroll(t, "pc-ok"), 1, nil)
}

func TestRevokedCertificate(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-rev")
	a, _ := th.connect(t, c, 1, nil)
	if _, err := th.Revoke(context.Background(), "pc-rev", "test"); err != nil {
		t.Fatal(err)
	}
	ce := a.waitClosed()
	if ce.Code != websocket.ClosePolicyViolation || ce.Text != "certificate revoked" {
		t.Fatalf("close frame %d %q", ce.Code, ce.Text)
	}
	_, resp, err := th.dial(&c.cert, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoked dial: %v %v, want 403", resp, err)
	}
	if _, err := th.SendCommand(context.Background(), c.id, protocol.ActionPing, nil, "test"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("command to a revoked terminal: %v", err)
	}
}

func TestTokenUsedTooOften(t *testing.T) {
	th := startHub(t, nil)
	tok := th.token(t, 2, time.Hour)
	for i := 0; i < 2; i++ {
		if _, code, bad := th.enroll(t, tok, "pc"); code != http.StatusOK {
			t.Fatalf("use %d: %d %s", i+1, code, bad.Error)
		}
	}
	_, code, bad := th.enroll(t, tok, "pc")
	if code != http.StatusForbidden || !strings.Contains(bad.Error, "enrollment token already used 2 times") {
		t.Fatalf("third use: %d %q", code, bad.Error)
	}
	_, code, bad = th.enroll(t, strings.Repeat("A", 52), "pc")
	if code != http.StatusUnauthorized || !strings.Contains(bad.Error, "unknown") {
		t.Fatalf("unknown token: %d %q", code, bad.Error)
	}
}

func TestTokenExpired(t *testing.T) {
	th := startHub(t, nil)
	tok := th.token(t, 5, -time.Second)
	_, code, bad := th.enroll(t, tok, "pc")
	if code != http.StatusForbidden || !strings.Contains(bad.Error, "enrollment token expired") {
		t.Fatalf("expired token: %d %q", code, bad.Error)
	}
	if ts, _ := th.Store().Terminals(context.Background()); len(ts) != 0 {
		t.Fatalf("a terminal was created: %+v", ts)
	}
}

func TestEnrollBadRequests(t *testing.T) {
	th := startHub(t, nil)
	tok := th.token(t, 10, time.Hour)
	csr, _ := newCSR(t)
	big := make([]byte, MaxEnrollBody+100)
	for i := range big {
		big[i] = ' '
	}
	cases := map[string]struct {
		body string
		want string
	}{
		"garbage":       {"{not json", "malformed"},
		"unknown field": {`{"token":"x","csr":"y","hostname":"h","os":"l","admin":true}`, "malformed"},
		"missing csr":   {`{"token":"` + tok + `","hostname":"h","os":"linux"}`, "csr is missing"},
		"bad csr":       {`{"token":"` + tok + `","csr":"nope","hostname":"h","os":"linux"}`, "certificate request refused"},
		"too large":     {string(big), "larger than"},
	}
	for name, c := range cases {
		code, _, bad := th.postEnroll(t, []byte(c.body))
		if code != http.StatusBadRequest || !strings.Contains(bad.Error, c.want) {
			t.Errorf("%s: %d %q, want 400 with %q", name, code, bad.Error, c.want)
		}
	}
	// None of these used the token.
	body, _ := json.Marshal(protocol.EnrollRequest{Token: tok, CSR: csr, Hostname: "h", OS: "linux"})
	if code, _, bad := th.postEnroll(t, body); code != http.StatusOK {
		t.Fatalf("good request after bad ones: %d %s", code, bad.Error)
	}
}

func TestEnrollRateLimited(t *testing.T) {
	th := startHub(t, func(c *Config) { c.EnrollPerMinute = 1; c.EnrollBurst = 3 })
	var codes []int
	for i := 0; i < 5; i++ {
		code, _, _ := th.postEnroll(t, []byte("{}"))
		codes = append(codes, code)
	}
	if codes[0] != 400 || codes[2] != 400 || codes[3] != http.StatusTooManyRequests || codes[4] != http.StatusTooManyRequests {
		t.Fatalf("codes %v, want three 400 then 429", codes)
	}
}

func TestOversizedFrame(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-big")
	a, _ := th.connect(t, c, 1, nil)
	a.sendRaw(websocket.TextMessage, []byte(`{"v":1,"type":"event","body":"`+strings.Repeat("x", protocol.MaxFrame)+`"}`))
	ce := a.waitClosed()
	if ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", ce.Code)
	}
	// The hub still serves the next agent, and this one again.
	b, _ := th.connect(t, th.mustEnroll(t, "pc-next"), 1, nil)
	b.send(event(1))
	b.waitAck(1)
	th.connect(t, c, 1, nil)
	if n := strings.Count(th.log.String(), "Agent frame too large"); n != 1 {
		t.Fatalf("logged %d times, want once", n)
	}
}

func TestGarbageFrames(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-g")
	cases := []struct {
		name  string
		kind  int
		frame string
		code  int
		text  string
	}{
		{"not json", websocket.TextMessage, "{garbage", websocket.ClosePolicyViolation, "malformed"},
		{"unknown type", websocket.TextMessage, `{"v":1,"type":"exec","body":{}}`, websocket.ClosePolicyViolation, "unknown message type"},
		{"wrong version", websocket.TextMessage, `{"v":9,"type":"event","body":{}}`, websocket.ClosePolicyViolation, "unsupported protocol version"},
		{"hub-only type", websocket.TextMessage, `{"v":1,"type":"ack","body":{"seq":1}}`, websocket.ClosePolicyViolation, "unexpected ack"},
		{"binary", websocket.BinaryMessage, "\x00\x01", websocket.ClosePolicyViolation, "binary"},
	}
	for _, tc := range cases {
		a, _ := th.connect(t, c, 1, nil)
		a.sendRaw(tc.kind, []byte(tc.frame))
		ce := a.waitClosed()
		if ce.Code != tc.code || !strings.Contains(ce.Text, tc.text) {
			t.Errorf("%s: close %d %q, want %d with %q", tc.name, ce.Code, ce.Text, tc.code, tc.text)
		}
	}
	// A first frame that is not Hello, or names another terminal.
	for _, first := range []protocol.Message{event(1), &protocol.Hello{TerminalID: "t-someoneelse", Status: status("x")}} {
		ws, _, err := th.dial(&c.cert, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := protocol.Encode(first)
		ws.WriteMessage(websocket.TextMessage, b)
		_, _, err = ws.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
			t.Errorf("first frame %s: %v, want policy violation", first.MsgType(), err)
		}
		ws.Close()
	}
	th.connect(t, c, 1, nil) // still welcome
	// Repeats from the same terminal are logged at Warn once, then at Debug.
	logs := th.log.String()
	if w, d := strings.Count(logs, `level=WARN msg="Agent sent a bad frame`), strings.Count(logs, `level=DEBUG msg="Agent sent a bad frame`); w != 1 || d != 4 {
		t.Fatalf("bad-frame log lines: %d at Warn, %d at Debug; want 1 and 4", w, d)
	}
}

func TestOriginRefused(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-o")
	_, resp, err := th.dial(&c.cert, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial with Origin: %v %v, want 403", resp, err)
	}
}

func TestDuplicateEventsStoredOnceAndAcked(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-d")
	a, _ := th.connect(t, c, 1, nil)
	for _, seq := range []uint64{1, 2, 3} {
		a.send(event(seq))
	}
	a.waitAck(3)
	// The agent did not see the acks (say the link dropped) and sends again.
	a.send(event(2))
	a.send(event(3))
	a.waitAck(3)
	a.send(event(3))
	a.waitAck(3)
	if n, _ := th.Store().CountEvents(context.Background(), c.id); n != 3 {
		t.Fatalf("stored %d events, want 3", n)
	}
}

func TestReplacedConnection(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-r")
	first, _ := th.connect(t, c, 1, nil)
	second, _ := th.connect(t, c, 1, nil)
	ce := first.waitClosed()
	if !strings.Contains(ce.Text, "replaced") {
		t.Fatalf("old connection closed with %d %q", ce.Code, ce.Text)
	}
	second.send(event(1))
	second.waitAck(1)
	// The old connection's end must not mark the terminal offline.
	term, _ := th.Store().Terminal(context.Background(), c.id)
	if !term.Online {
		t.Fatal("terminal offline although its new connection is live")
	}
}

func TestSlowAgentDropped(t *testing.T) {
	th := startHub(t, func(c *Config) { c.SendQueue = 4; c.CommandTTL = time.Minute })
	slowC := th.mustEnroll(t, "pc-slow")
	fastC := th.mustEnroll(t, "pc-fast")

	// The slow agent says hello and then never reads; a tiny receive buffer makes
	// the hub's socket fill quickly.
	d := websocket.Dialer{TLSClientConfig: th.clientTLS(&slowC.cert), HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				c.(*net.TCPConn).SetReadBuffer(4096)
			}
			return c, err
		}}
	slow, _, err := d.Dial("wss://"+th.Addr().String()+protocol.PathAgent, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	hello, _ := protocol.Encode(&protocol.Hello{TerminalID: slowC.id, NextSeq: 1, Status: status("slow")})
	slow.WriteMessage(websocket.TextMessage, hello)
	waitFor(t, 5*time.Second, "slow agent registered", func() bool {
		return strings.Contains(strings.Join(th.Online(), ","), slowC.id)
	})
	fast, _ := th.connect(t, fastC, 1, pong)

	big := map[string]string{}
	for i := 0; i < 30; i++ {
		big[string(rune('a'+i%26))+strings.Repeat("k", i/26)] = strings.Repeat("x", 1900)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := th.SendCommand(context.Background(), slowC.id, protocol.ActionMessage, big, "test")
			errs <- err
		}()
	}
	// Meanwhile the fast agent is served without waiting for the slow one.
	for seq := uint64(1); seq <= 20; seq++ {
		fast.send(event(seq))
		fast.waitAck(seq)
		if r, err := th.SendCommand(context.Background(), fastC.id, protocol.ActionPing, nil, "test"); err != nil || !r.OK {
			t.Fatalf("fast agent command %d: %v %v", seq, r, err)
		}
	}
	waitFor(t, 10*time.Second, "slow agent dropped", func() bool {
		return !strings.Contains(strings.Join(th.Online(), ","), slowC.id)
	})
	wg.Wait() // every command to the slow agent returned (none waited for its expiry)
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("a command to the never-reading agent succeeded")
		}
	}
	if !strings.Contains(th.log.String(), "Agent too slow") {
		t.Fatal("drop not logged")
	}
}

func TestGracefulShutdownNoLeaks(t *testing.T) {
	th := startHub(t, nil)
	var agents []*testAgent
	for _, name := range []string{"pc-1", "pc-2", "pc-3"} {
		c := th.mustEnroll(t, name)
		a, _ := th.connect(t, c, 1, nil)
		agents = append(agents, a)
	}
	agents[0].send(event(1))
	agents[0].waitAck(1)
	start := time.Now()
	if err := th.stop(t); err != nil {
		t.Fatalf("Run returned %v on cancel", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	for _, a := range agents {
		if ce := a.waitClosed(); ce.Code != websocket.CloseGoingAway {
			t.Errorf("close code %d %q, want 1001", ce.Code, ce.Text)
		}
	}
	waitFor(t, 5*time.Second, "hub goroutines gone", func() bool { return len(hubGoroutines()) == 0 })
	// The listener is closed and the store flushed and closed.
	if c, err := net.DialTimeout("tcp", th.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after shutdown")
	}
	st, err := store.Open(filepath.Join(th.dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts, _ := st.Terminals(context.Background())
	for _, term := range ts {
		if term.Online {
			t.Errorf("%s still online after shutdown", term.Name)
		}
	}
}

func TestAuditTamperDetected(t *testing.T) {
	th := startHub(t, nil)
	ctx := context.Background()
	c := th.mustEnroll(t, "pc-a")
	th.connect(t, c, 1, pong)
	if _, err := th.SendCommand(ctx, c.id, protocol.ActionLock, nil, "staff:ann"); err != nil {
		t.Fatal(err)
	}
	n, err := th.Store().VerifyAudit(ctx)
	if err != nil || n < 4 { // token.create, enroll, command, command.result
		t.Fatalf("VerifyAudit: %d %v", n, err)
	}
	// Someone with write access to hub.db rewrites who issued the command.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(th.dir, DBFile)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET actor = 'staff:bob' WHERE action = 'command'`); err == nil {
		t.Fatal("the trigger let an audit row be changed")
	}
	var seq int64
	db.QueryRow(`SELECT seq FROM audit WHERE action = 'command'`).Scan(&seq)
	if _, err := db.Exec(`DROP TRIGGER audit_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET actor = 'staff:bob' WHERE action = 'command'`); err != nil {
		t.Fatal(err)
	}
	_, err = th.Store().VerifyAudit(ctx)
	var ae *store.AuditError
	if !errors.As(err, &ae) || ae.Seq != seq {
		t.Fatalf("VerifyAudit after tampering row %d: %v", seq, err)
	}
}

func TestBackupWhileServing(t *testing.T) {
	th := startHub(t, nil)
	ctx := context.Background()
	c := th.mustEnroll(t, "pc-b")
	a, _ := th.connect(t, c, 1, nil)
	for seq := uint64(1); seq <= 10; seq++ {
		a.send(event(seq))
	}
	a.waitAck(10)
	dst := filepath.Join(t.TempDir(), "backup.db")
	if err := th.Store().Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	term, err := b.Terminal(ctx, c.id)
	if err != nil || term.Name != "pc-b" {
		t.Fatalf("backup terminal: %+v %v", term, err)
	}
	if n, _ := b.CountEvents(ctx, c.id); n != 10 {
		t.Fatalf("backup has %d events, want 10", n)
	}
	if _, err := b.VerifyAudit(ctx); err != nil {
		t.Fatalf("backup audit: %v", err)
	}
}

func TestCommandToOfflineTerminal(t *testing.T) {
	th := startHub(t, nil)
	ctx := context.Background()
	c := th.mustEnroll(t, "pc-off")
	_, err := th.SendCommand(ctx, "pc-off", protocol.ActionLock, nil, "staff:ann")
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "pc-off") {
		t.Fatalf("command to offline terminal: %v", err)
	}
	log, _ := th.Store().AuditLog(ctx, 0, 100)
	var sawCmd, sawResult bool
	for _, r := range log {
		if r.Target != c.id {
			continue
		}
		if r.Action == "command" && r.Actor == "staff:ann" && strings.Contains(r.Detail, `"action":"lock"`) {
			sawCmd = true
		}
		if r.Action == "command.result" && strings.Contains(r.Detail, `"ok":"false"`) && strings.Contains(r.Detail, "offline") {
			sawResult = true
		}
	}
	if !sawCmd || !sawResult {
		t.Fatalf("audit lacks the command (%v) or its offline outcome (%v): %+v", sawCmd, sawResult, log)
	}
}

func TestCommandRoundTripAndLockTruth(t *testing.T) {
	th := startHub(t, nil)
	ctx := context.Background()
	c := th.mustEnroll(t, "pc-c")
	var seen sync.Map
	a, _ := th.connect(t, c, 1, func(cmd *protocol.Command) *protocol.Result {
		seen.Store(cmd.ID, cmd)
		if cmd.Action == protocol.ActionReboot {
			return &protocol.Result{ID: cmd.ID, OK: false, Error: "refused: patron session active", Time: time.Now()}
		}
		return pong(cmd)
	})
	res, err := th.SendCommand(ctx, c.id, protocol.ActionLock, map[string]string{"reason": "closing"}, "staff:ann")
	if err != nil || !res.OK || res.Output != "pong lock" {
		t.Fatalf("lock: %+v %v", res, err)
	}
	v, _ := seen.Load(res.ID)
	cmd := v.(*protocol.Command)
	if cmd.Terminal != c.id || cmd.IssuedBy != "staff:ann" || cmd.Args["reason"] != "closing" || cmd.ExpiresAt.Sub(cmd.IssuedAt) != 2*time.Minute {
		t.Fatalf("command as the agent saw it: %+v", cmd)
	}
	stored, err := th.Store().GetCommand(ctx, res.ID)
	if err != nil || !stored.OK || !stored.Answered {
		t.Fatalf("stored command: %+v %v", stored, err)
	}
	res, err = th.SendCommand(ctx, c.id, protocol.ActionReboot, nil, "staff:ann")
	if err != nil || res.OK || !strings.Contains(res.Error, "refused") {
		t.Fatalf("refused reboot: %+v %v", res, err)
	}
	if _, err := th.SendCommand(ctx, c.id, "exec", nil, "staff:ann"); err == nil {
		t.Fatal("unknown action sent")
	}
	// A result for another terminal's command, or an unknown one, is ignored.
	a.send(&protocol.Result{ID: "c-unknown", OK: true, Time: time.Now()})
	// Lock state is the hub's truth, re-sent on reconnect.
	a.ws.Close()
	_, w := th.connect(t, c, 1, nil)
	if !w.Locked {
		t.Fatal("Welcome.Locked false after a successful lock")
	}
}

func TestCommandExpiresWithoutAnswer(t *testing.T) {
	th := startHub(t, func(c *Config) { c.CommandTTL = 300 * time.Millisecond })
	c := th.mustEnroll(t, "pc-mute")
	th.connect(t, c, 1, func(*protocol.Command) *protocol.Result { return nil })
	_, err := th.SendCommand(context.Background(), c.id, protocol.ActionPing, nil, "test")
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("unanswered command: %v", err)
	}
}

func TestRenewOverLiveLink(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-renew")
	a, _ := th.connect(t, c, 1, nil)
	csr, key := newCSR(t)
	a.send(&protocol.Renew{CSR: csr})
	cert := a.expect(protocol.TypeCert).(*protocol.Cert)
	tc, err := tls.X509KeyPair([]byte(cert.Certificate), pemKey(t, key))
	if err != nil {
		t.Fatal(err)
	}
	a2, w := th.connect(t, creds{id: c.id, cert: tc}, 1, nil)
	if w.TerminalID != c.id {
		t.Fatalf("renewed cert maps to %s", w.TerminalID)
	}
	_ = a2
}

func TestControlSocket(t *testing.T) {
	th := startHub(t, nil)
	ctx := context.Background()
	c := th.mustEnroll(t, "pc-ctl")
	a, _ := th.connect(t, c, 1, pong)
	ctl, err := Dial(ctx, th.dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ctl.Health(ctx)
	if err != nil || !h.OK || h.Online != 1 || h.Fingerprint != th.Fingerprint() {
		t.Fatalf("health: %+v %v", h, err)
	}
	resp, err := ctl.Command(ctx, protocol.CommandArgs{Terminal: "pc-ctl", Action: protocol.ActionPing})
	if err != nil || resp.Result == nil || !resp.Result.OK {
		t.Fatalf("command: %+v %v", resp, err)
	}
	log, _ := th.Store().AuditLog(ctx, 0, 100)
	if last := log[len(log)-1]; !strings.HasPrefix(last.Actor, "local:") || last.Actor == "local:unknown" {
		t.Fatalf("control caller audited as %q", last.Actor)
	}
	rv, err := ctl.Revoke(ctx, "pc-ctl")
	if err != nil || rv.ID != c.id {
		t.Fatalf("revoke: %+v %v", rv, err)
	}
	if ce := a.waitClosed(); ce.Text != "certificate revoked" {
		t.Fatalf("revoked connection closed with %q", ce.Text)
	}
	a2, _ := th.connect(t, th.mustEnroll(t, "pc-ctl2"), 1, nil)
	if _, err := New(Config{DataDir: th.dir, Listen: "127.0.0.1:0"}, th.Hub.log); err == nil || !strings.Contains(err.Error(), "another carrel-hub serve is running") {
		t.Fatalf("second hub on the same data dir: %v", err)
	}
	// The refused second hub did not mark the first one's agents offline.
	if term, _ := th.Store().Terminal(ctx, a2.id); !term.Online {
		t.Fatal("a refused second hub marked a connected terminal offline")
	}
	th.stop(t)
	if _, err := Dial(ctx, th.dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Dial after stop: %v", err)
	}
}

func TestShutdownWithCommandInFlight(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-mute")
	a, _ := th.connect(t, c, 1, func(*protocol.Command) *protocol.Result { return nil })
	errc := make(chan error, 1)
	go func() {
		_, err := th.SendCommand(context.Background(), c.id, protocol.ActionPing, nil, "test")
		errc <- err
	}()
	waitFor(t, 5*time.Second, "command pending", func() bool {
		th.mu.Lock()
		defer th.mu.Unlock()
		return len(th.pending) == 1
	})
	start := time.Now()
	if err := th.stop(t); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a command in flight", d)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "disconnected") {
			t.Fatalf("in-flight command: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SendCommand still waiting after shutdown")
	}
	a.waitClosed()
	waitFor(t, 5*time.Second, "hub goroutines gone", func() bool { return len(hubGoroutines()) == 0 })
}

func TestHelloTimeout(t *testing.T) {
	th := startHub(t, func(c *Config) { c.HelloTimeout = 200 * time.Millisecond })
	c := th.mustEnroll(t, "pc-quiet")
	ws, _, err := th.dial(&c.cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("got a frame without saying hello")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("hub kept a silent connection open past the hello timeout")
	}
	term, _ := th.Store().Terminal(context.Background(), c.id)
	if term.Online {
		t.Fatal("silent connection marked online")
	}
}

func TestRenewRateLimited(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-spin")
	a, _ := th.connect(t, c, 1, nil)
	csr, _ := newCSR(t)
	a.send(&protocol.Renew{CSR: csr})
	a.expect(protocol.TypeCert)
	a.send(&protocol.Renew{CSR: csr})
	a.send(event(1)) // the next frame the agent sees must be the ack, not a second cert
	a.expect(protocol.TypeAck)
	log, _ := th.Store().AuditLog(context.Background(), 0, 100)
	renewals := 0
	for _, r := range log {
		if r.Action == "renew" {
			renewals++
		}
	}
	if renewals != 1 {
		t.Fatalf("%d renewals audited, want 1", renewals)
	}
}

func TestNearExpiryWarnedAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := startHub(t, func(c *Config) { c.DataDir = dir })
	ctx := context.Background()
	for _, x := range []struct {
		id   string
		left time.Duration
	}{{"t-late", 10 * 24 * time.Hour}, {"t-fine", 80 * 24 * time.Hour}} {
		if err := first.Store().AddTerminal(ctx, store.Terminal{ID: x.id, Name: x.id, CertSerial: "s-" + x.id, CertNotAfter: time.Now().Add(x.left)}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	first.stop(t)
	second := startHub(t, func(c *Config) { c.DataDir = dir })
	waitFor(t, 5*time.Second, "expiry warning", func() bool {
		return strings.Contains(second.log.String(), `msg="Terminal certificate near expiry, agent not renewing" terminal=t-late`)
	})
	if strings.Contains(second.log.String(), "terminal=t-fine") {
		t.Fatal("warned about a certificate with 80 days left")
	}
}

func TestEventRetentionAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := startHub(t, func(c *Config) { c.DataDir = dir })
	c := first.mustEnroll(t, "pc-old")
	a, _ := first.connect(t, c, 1, nil)
	a.send(event(1))
	a.waitAck(1)
	first.stop(t)
	kept := startHub(t, func(c *Config) { c.DataDir = dir })
	if n, _ := kept.Store().CountEvents(context.Background(), c.id); n != 1 {
		t.Fatalf("default retention deleted a fresh event (%d left)", n)
	}
	kept.stop(t)
	pruned := startHub(t, func(c *Config) { c.DataDir = dir; c.KeepEvents = time.Nanosecond })
	waitFor(t, 5*time.Second, "old events deleted", func() bool {
		n, _ := pruned.Store().CountEvents(context.Background(), c.id)
		return n == 0
	})
	// The terminal still knows what it acknowledged: the agent does not resend.
	_, w := pruned.connect(t, c, 2, nil)
	if w.AckedSeq != 1 {
		t.Fatalf("acked seq after pruning: %d, want 1", w.AckedSeq)
	}
}

// TestAuditHeadsLeaveTheHub: the hub signs its audit head into its log at start
// and at shutdown and into every agent's Welcome, each verifiable with the CA
// certificate agents pin, and the shutdown head names the chain's last row.
func TestAuditHeadsLeaveTheHub(t *testing.T) {
	th := startHub(t, nil)
	_, w := th.connect(t, th.mustEnroll(t, "pc-1"), 1, nil)
	wh, err := protocol.ParseAuditHead(w.AuditHead)
	if err != nil {
		t.Fatalf("Welcome's audit head %q: %v", w.AuditHead, err)
	}
	if err := pki.VerifyAuditHead(th.CA().Cert(), wh); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Revoke(context.Background(), "pc-1", "local:test"); err != nil {
		t.Fatal(err)
	}
	seq, hash, err := th.Store().AuditHead(context.Background())
	if err != nil || seq < 2 {
		t.Fatalf("audit head: %d %v", seq, err)
	}
	if err := th.stop(t); err != nil {
		t.Fatal(err)
	}
	heads := protocol.FindAuditHeads(th.log.String())
	if len(heads) < 2 {
		t.Fatalf("%d audit heads in the log, want one at start and one at shutdown:\n%s", len(heads), th.log.String())
	}
	last := heads[len(heads)-1]
	if err := pki.VerifyAuditHead(th.CA().Cert(), last); err != nil || last.Seq != seq || !bytes.Equal(last.Hash, hash) {
		t.Fatalf("shutdown head %+v (%v), want row %d %x", last, err, seq, hash)
	}
}

// TestRenewOncePerCertificate: a certificate is renewed once. An agent that
// reconnects with the old certificate after its renewal's certificate has held
// the link gets no second renewal; one whose renewal answer was lost (the new
// certificate never used) may ask again.
func TestRenewOncePerCertificate(t *testing.T) {
	th := startHub(t, nil)
	renew := func(a *testAgent) tls.Certificate {
		t.Helper()
		csr, key := newCSR(t)
		a.send(&protocol.Renew{CSR: csr})
		cert := a.expect(protocol.TypeCert).(*protocol.Cert)
		tc, err := tls.X509KeyPair([]byte(cert.Certificate), pemKey(t, key))
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	// The answer was lost: the old certificate asks again on its next link.
	lost := th.mustEnroll(t, "pc-lost")
	a, _ := th.connect(t, lost, 1, nil)
	renew(a)
	a, _ = th.connect(t, lost, 1, nil)
	renew(a)

	// The renewal is in use: the old certificate gets no second one.
	c := th.mustEnroll(t, "pc-twice")
	a, _ = th.connect(t, c, 1, nil)
	fresh := renew(a)
	th.connect(t, creds{id: c.id, cert: fresh}, 1, nil) // replaces the old link
	old, _ := th.connect(t, c, 1, nil)
	csr, _ := newCSR(t)
	old.send(&protocol.Renew{CSR: csr})
	old.send(event(1)) // the next frame must be the ack, not a certificate
	old.expect(protocol.TypeAck)
	rows, _ := th.Store().AuditLog(context.Background(), 0, 100)
	n := 0
	for _, r := range rows {
		if r.Action == protocol.AuditRenew && r.Target == c.id {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d renewals of pc-twice audited, want 1", n)
	}
}
