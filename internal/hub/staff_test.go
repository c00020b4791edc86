package hub

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
)

const adminPW = "correct horse battery"

func TestNoDefaultLogin(t *testing.T) {
	sh := startStaffHub(t, nil)
	fi, err := os.Stat(filepath.Join(sh.dir, staffapi.SetupCodeFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("setup code file: %v %v, want mode 0600", fi, err)
	}
	if len(sh.SetupCode()) < 26 {
		t.Fatalf("setup code %q too short", sh.SetupCode())
	}
	for _, c := range []struct{ user, pw, code string }{{"admin", "admin", "000000"}, {"root", "", ""}, {"admin", "", "123456"}, {"carrel", "carrel", "000000"}} {
		status, _, msg := sh.login(t, c.user, c.pw, c.code)
		if status != http.StatusUnauthorized || msg != staffapi.MsgLoginFailed {
			t.Errorf("login %q/%q on an empty hub: %d %q, want 401 %q", c.user, c.pw, status, msg, staffapi.MsgLoginFailed)
		}
	}
	sh.wantAudit(t, "staff:admin", "staff.login", "refused: unknown user")
	sh.wantAudit(t, "staff:root", "staff.login", "refused: unknown user")
	if n, _ := sh.Store().StaffCount(context.Background()); n != 0 {
		t.Fatalf("%d accounts on a fresh hub", n)
	}
}

func TestSetupOnceWithCode(t *testing.T) {
	sh := startStaffHub(t, nil)
	code := sh.setupCode(t)
	for _, c := range []struct{ code, why string }{{"", "without a code"}, {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "with a wrong code"}} {
		status, body := sh.post(t, protocol.PathStaffSetup, protocol.SetupRequest{SetupCode: c.code, User: "ann", Password: adminPW}, "")
		if status != http.StatusForbidden {
			t.Fatalf("setup %s: %d %s, want 403", c.why, status, body)
		}
	}
	sh.wantAudit(t, "staff:ann", "staff.setup", "refused: wrong or missing setup code")
	status, body := sh.post(t, protocol.PathStaffSetup, protocol.SetupRequest{SetupCode: code, User: "ann", Password: "short"}, "")
	if status != http.StatusBadRequest {
		t.Fatalf("setup with a short password: %d %s", status, body)
	}
	secret := sh.setup(t, "ann", adminPW)
	if _, err := os.Stat(filepath.Join(sh.dir, staffapi.SetupCodeFile)); !os.IsNotExist(err) {
		t.Fatalf("setup code still there after use: %v", err)
	}
	sh.wantAudit(t, "staff:ann", "staff.setup", "ok")
	// The used code, and any other, is refused now.
	status, body = sh.post(t, protocol.PathStaffSetup, protocol.SetupRequest{SetupCode: code, User: "eve", Password: adminPW}, "")
	if status != http.StatusForbidden {
		t.Fatalf("second setup: %d %s, want 403", status, body)
	}
	sh.wantAudit(t, "staff:eve", "staff.setup", "refused: setup is closed")
	a, err := sh.Store().StaffByName(context.Background(), "ann")
	if err != nil || a.Role != "admin" || a.TOTPSecret != secret || !strings.HasPrefix(a.Password, "$argon2id$") {
		t.Fatalf("first admin: %+v %v", a, err)
	}
	sess := sh.mustLogin(t, "ann", adminPW, secret)
	c := sh.console(t, sess, nil)
	var info protocol.HubInfo
	c.ok(protocol.OpHubInfo, nil, &info)
	if info.User != "ann" || info.Role != protocol.RoleAdmin || info.Fingerprint != sh.Fingerprint() || info.Version != "test" {
		t.Fatalf("hub.info: %+v", info)
	}
}

func TestLoginTOTPOnce(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.Staff.MaxFailures = 100 })
	secret := sh.setup(t, "ann", adminPW)
	// A code from two steps away is refused.
	sh.clock.advance(-60 * time.Second)
	old := sh.code(t, secret)
	sh.clock.advance(60 * time.Second)
	for _, code := range []string{"000000", old, "", "12345", "1234567"} {
		if code == sh.code(t, secret) {
			continue
		}
		if status, _, msg := sh.login(t, "ann", adminPW, code); status != http.StatusUnauthorized || msg != staffapi.MsgLoginFailed {
			t.Fatalf("wrong code %q: %d %q", code, status, msg)
		}
	}
	sh.wantAudit(t, "staff:ann", "staff.login", "refused: wrong totp code")
	code := sh.code(t, secret)
	status, r, msg := sh.login(t, "ann", adminPW, code)
	if status != http.StatusOK || r.Role != protocol.RoleAdmin || r.User != "ann" || !r.ExpiresAt.Equal(sh.clock.now().Add(12*time.Hour)) {
		t.Fatalf("login: %d %+v %s", status, r, msg)
	}
	// The same code again, within its window, is refused; so is the previous step.
	if status, _, msg := sh.login(t, "ann", adminPW, code); status != http.StatusUnauthorized || msg != staffapi.MsgLoginFailed {
		t.Fatalf("replayed code: %d %q", status, msg)
	}
	sh.wantAudit(t, "staff:ann", "staff.login", "refused: totp code already used")
	sh.clock.advance(30 * time.Second)
	if status, _, _ := sh.login(t, "ann", adminPW, code); status != http.StatusUnauthorized {
		t.Fatalf("code of the previous step after a newer one was used: %d", status)
	}
	sh.mustLogin(t, "ann", adminPW, secret)
	// Session stored hashed: the secret is nowhere in the database.
	db, _ := os.ReadFile(filepath.Join(sh.dir, DBFile))
	wal, _ := os.ReadFile(filepath.Join(sh.dir, DBFile+"-wal"))
	if strings.Contains(string(db)+string(wal), r.Session) || strings.Contains(string(db)+string(wal), adminPW) {
		t.Fatal("session secret or password stored in clear")
	}
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	sh := startStaffHub(t, nil)
	secret := sh.setup(t, "ann", adminPW)
	for i := 1; i <= 5; i++ {
		if status, _, msg := sh.login(t, "ann", "wrong password!", "000000"); status != http.StatusUnauthorized || msg != staffapi.MsgLoginFailed {
			t.Fatalf("failure %d: %d %q", i, status, msg)
		}
	}
	// The sixth attempt, right password and right code, is refused.
	sh.clock.advance(30 * time.Second)
	if status, _, msg := sh.login(t, "ann", adminPW, sh.code(t, secret)); status != http.StatusTooManyRequests || msg != staffapi.MsgLoginWait {
		t.Fatalf("sixth attempt with the right credentials: %d %q, want 429", status, msg)
	}
	sh.wantAudit(t, "staff:ann", "staff.login", "refused: wrong password")
	locked := sh.wantAudit(t, "staff:ann", "staff.login", "refused: wrong password")
	var d map[string]string
	json.Unmarshal([]byte(locked.Detail), &d)
	rows := sh.auditRows(t)
	n := 0
	for _, r := range rows {
		if r.Action == "staff.login" && strings.Contains(r.Detail, "locked_until") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d audit rows record the lock, want 1", n)
	}
	sh.wantAudit(t, "staff:ann", "staff.login", "refused: account locked until")
	// 15 minutes later the account works again.
	sh.clock.advance(15 * time.Minute)
	sh.mustLogin(t, "ann", adminPW, secret)

	// An unknown name locks the same way, so the answers do not tell names apart.
	for i := 1; i <= 5; i++ {
		sh.login(t, "nobody", "x", "000000")
	}
	if status, _, _ := sh.login(t, "nobody", "x", "000000"); status != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt on an unknown name: %d, want 429", status)
	}
}

func TestLoginRateLimitedPerAddressAndAccount(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.Staff.LoginPerMinute, c.Staff.LoginBurst, c.Staff.MaxFailures = 0.001, 3, 100 })
	for i := 0; i < 3; i++ {
		sh.login(t, fmt.Sprintf("user%d", i), "x", "000000")
	}
	if status, _, _ := sh.login(t, "other", "x", "000000"); status != http.StatusTooManyRequests {
		t.Fatalf("fourth attempt from one address: %d, want 429", status)
	}
	sh.wantAudit(t, "staff:other", "staff.login", "refused: too many attempts from this address")
}

func TestDeskRoleRefusedAdminOps(t *testing.T) {
	sh := startStaffHub(t, nil)
	asecret := sh.setup(t, "ann", adminPW)
	dsecret := sh.addStaff(t, "dan", "desk password", protocol.RoleDesk)
	agentCreds := sh.mustEnroll(t, "pc-01")
	a, _ := sh.connect(t, agentCreds, 1, pong)
	_ = a
	desk := sh.console(t, sh.mustLogin(t, "dan", "desk password", dsecret), nil)
	for _, c := range []struct {
		op   protocol.StaffOp
		args any
	}{
		{protocol.OpTokenCreate, protocol.TokenArgs{Uses: 1, TTL: time.Hour}},
		{protocol.OpStaffCreate, protocol.StaffCreateArgs{User: "mal", Password: "mallory password", Role: protocol.RoleAdmin}},
		{protocol.OpAuditList, protocol.AuditArgs{}},
		{protocol.OpCommand, protocol.CommandArgs{Terminal: agentCreds.id, Action: protocol.ActionReboot}},
		{protocol.OpTerminalRevoke, protocol.TerminalArgs{Terminal: agentCreds.id}},
		{protocol.OpStaffDisable, protocol.StaffArgs{User: "ann"}},
		{protocol.OpQuarantineList, nil},
		{protocol.OpAuditVerify, nil},
		{protocol.OpStaffList, nil},
	} {
		r := desk.do(c.op, c.args)
		if r.OK || r.Error != staffapi.ErrForbidden.Error() {
			t.Errorf("desk %s: ok=%v error=%q body=%s, want refused", c.op, r.OK, r.Error, r.Body)
		}
		sh.wantAudit(t, "staff:dan", string(c.op), "refused: admin only")
	}
	if _, err := sh.Store().StaffByName(context.Background(), "mal"); err == nil {
		t.Fatal("desk created an account")
	}
	if term, _ := sh.Store().Terminal(context.Background(), agentCreds.id); term.Revoked() {
		t.Fatal("desk revoked a terminal")
	}
	reboot := sh.wantAudit(t, "staff:dan", "command", "refused: admin only")
	if reboot.Target != agentCreds.id || !strings.Contains(reboot.Detail, `"action":"reboot"`) {
		t.Fatalf("refused command audit row: %+v", reboot)
	}
	// Desk actions work, through SendCommand, audited as staff:dan.
	var res protocol.Result
	desk.ok(protocol.OpCommand, protocol.CommandArgs{Terminal: "pc-01", Action: protocol.ActionLock}, &res)
	if !res.OK || res.Output != "pong lock" {
		t.Fatalf("desk lock: %+v", res)
	}
	rows := sh.auditRows(t)
	found := false
	for _, r := range rows {
		if r.Actor == "staff:dan" && r.Action == "command" && r.Target == agentCreds.id && strings.Contains(r.Detail, `"action":"lock"`) {
			found = true
		}
	}
	if !found {
		t.Fatal("no audit row for the desk's lock command")
	}
	// The admin may do what the desk may not.
	admin := sh.console(t, sh.mustLogin(t, "ann", adminPW, asecret), nil)
	var tok protocol.TokenView
	admin.ok(protocol.OpTokenCreate, protocol.TokenArgs{Uses: 3, TTL: time.Hour}, &tok)
	for _, want := range []string{"HUB_URL=" + tok.HubURL, "HUB_FINGERPRINT=" + sh.Fingerprint(), "ENROLL_TOKEN=" + tok.Token} {
		if !strings.Contains(tok.MSICommand, want) || !strings.Contains(tok.DebCommand, want) {
			t.Fatalf("install lines lack %q: %+v", want, tok)
		}
	}
	if !strings.HasPrefix(tok.MSICommand, "msiexec /i carrel-agent-VERSION-x64.msi /qn ") || !strings.Contains(tok.AgentCommand, "--token "+tok.Token) {
		t.Fatalf("token view: %+v", tok)
	}
	if _, code, bad := sh.enroll(t, tok.Token, "pc-02"); code != http.StatusOK {
		t.Fatalf("enroll with the console's token: %d %s", code, bad.Error)
	}
	admin.ok(protocol.OpCommand, protocol.CommandArgs{Terminal: agentCreds.id, Action: protocol.ActionReboot}, &res)
	// A member made from the console can log in with the TOTP secret shown once.
	var made protocol.SetupResponse
	admin.ok(protocol.OpStaffCreate, protocol.StaffCreateArgs{User: "eve", Password: "evening shift", Role: protocol.RoleDesk}, &made)
	if made.User != "eve" || !strings.Contains(made.TOTPURI, "secret="+made.TOTPSecret) {
		t.Fatalf("staff.create: %+v", made)
	}
	sh.wantAudit(t, "staff:ann", "staff.create", "ok")
	sh.mustLogin(t, "eve", "evening shift", made.TOTPSecret)
	if r := admin.do(protocol.OpStaffCreate, protocol.StaffCreateArgs{User: "EVE", Password: "evening shift", Role: protocol.RoleDesk}); r.OK {
		t.Fatal("second account with the same name")
	}
	sh.wantAudit(t, "staff:ann", "staff.create", "failed: ")
	var staff []protocol.StaffView
	admin.ok(protocol.OpStaffList, nil, &staff)
	if len(staff) != 3 || staff[0].User != "ann" || staff[1].User != "dan" || staff[1].Role != protocol.RoleDesk || staff[1].LastLogin.IsZero() {
		t.Fatalf("staff.list: %+v", staff)
	}
	// Disabling the desk member drops its console and its sessions.
	admin.ok(protocol.OpStaffDisable, protocol.StaffArgs{User: "dan"}, nil)
	desk.waitClosed()
	sh.clock.advance(30 * time.Second)
	if status, _, _ := sh.login(t, "dan", "desk password", sh.code(t, dsecret)); status != http.StatusUnauthorized {
		t.Fatalf("disabled member logged in: %d", status)
	}
	if r := admin.do(protocol.OpStaffDisable, protocol.StaffArgs{User: "ann"}); r.OK {
		t.Fatal("the last admin disabled herself")
	}
	var audit []protocol.AuditView
	admin.ok(protocol.OpAuditList, protocol.AuditArgs{Limit: 200}, &audit)
	if len(audit) == 0 || audit[0].ID != 1 {
		t.Fatalf("audit.list: %+v", audit)
	}
}

func TestSessionExpiry(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.Staff.SessionTTL, c.Staff.IdleTimeout = time.Hour, 30*time.Minute })
	secret := sh.setup(t, "ann", adminPW)
	sess := sh.mustLogin(t, "ann", adminPW, secret)
	c := sh.console(t, sess, nil)
	// Requests every 20 minutes keep it from going idle, until its absolute end.
	for i := 0; i < 2; i++ {
		sh.clock.advance(20 * time.Minute)
		c.ok(protocol.OpTerminals, nil, nil)
	}
	sh.clock.advance(20*time.Minute + time.Second)
	// The hub ends the session either by answering this request with
	// staffapi.ErrSessionEnded or, when its ping-time check comes first, by closing the
	// connection with "session ended": both are right, nothing else is.
	if r, err := c.tryDo(protocol.OpTerminals, nil); err != nil {
		if !strings.Contains(err.Error(), "session ended") {
			t.Fatalf("request after the session's end: %v", err)
		}
	} else if r.OK || r.Error != staffapi.ErrSessionEnded.Error() {
		t.Fatalf("request after the session's end: %+v", r)
	}
	c.waitClosed()
	sh.wantAudit(t, "staff:ann", "staff.logout", "session expired")
	if _, resp, err := sh.dialStaff(sess, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial with an expired session: %v %v, want 401", resp, err)
	}
	// Idle expiry.
	sess = sh.mustLogin(t, "ann", adminPW, secret)
	sh.clock.advance(31 * time.Minute)
	if _, resp, err := sh.dialStaff(sess, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial with an idle session: %v %v, want 401", resp, err)
	}
	sh.wantAudit(t, "staff:ann", "staff.logout", "session idle too long")
	// Logout ends a session at once.
	sess = sh.mustLogin(t, "ann", adminPW, secret)
	c = sh.console(t, sess, nil)
	if status, body := sh.post(t, protocol.PathStaffLogout, []byte{}, sess); status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", status, body)
	}
	c.waitClosed()
	sh.wantAudit(t, "staff:ann", "staff.logout", "ok")
	if _, resp, err := sh.dialStaff(sess, nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial after logout: %v %v", resp, err)
	}
	if _, resp, err := sh.dialStaff("", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial without a session: %v %v", resp, err)
	}
	sh.wantAudit(t, "unknown", "staff.connect", "refused: no valid session")
}

func TestStaffOriginRefused(t *testing.T) {
	sh := startStaffHub(t, nil)
	secret := sh.setup(t, "ann", adminPW)
	sess := sh.mustLogin(t, "ann", adminPW, secret)
	_, resp, err := sh.dialStaff(sess, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial with Origin: %v %v, want 403", resp, err)
	}
	sh.wantAudit(t, "staff:ann", "staff.connect", "refused: browser origin https://evil.example")
}

func TestSubscribeCatchesUpAfterReconnect(t *testing.T) {
	sh := startStaffHub(t, nil)
	secret := sh.setup(t, "ann", adminPW)
	sess := sh.mustLogin(t, "ann", adminPW, secret)
	agent, _ := sh.connect(t, sh.mustEnroll(t, "pc-01"), 1, nil)
	for seq := uint64(1); seq <= 3; seq++ {
		agent.send(event(seq))
	}
	agent.waitAck(3)

	c := sh.console(t, sess, nil)
	c.ok(protocol.OpSubscribe, protocol.SubscribeArgs{SinceEvent: 0}, nil)
	for seq := uint64(4); seq <= 5; seq++ {
		agent.send(event(seq))
	}
	var last int64
	for want := uint64(4); want <= 5; want++ {
		e := c.event()
		if e.Seq != want || e.Terminal != agent.id || e.ID <= last || e.Data["file"] != fmt.Sprintf("setup-%d.exe", want) {
			t.Fatalf("live event: %+v, want seq %d (since 0 replays nothing)", e, want)
		}
		last = e.ID
	}
	c.ws.Close()
	<-c.closed
	for seq := uint64(6); seq <= 8; seq++ {
		agent.send(event(seq))
	}
	agent.waitAck(8)

	c = sh.console(t, sess, nil)
	c.ok(protocol.OpSubscribe, protocol.SubscribeArgs{SinceEvent: last}, nil)
	for want := uint64(6); want <= 8; want++ {
		if e := c.event(); e.Seq != want || e.ID <= last {
			t.Fatalf("catch-up event: %+v, want seq %d", e, want)
		} else {
			last = e.ID
		}
	}
	agent.send(event(9))
	if e := c.event(); e.Seq != 9 || e.ID <= last {
		t.Fatalf("live event after catch-up: %+v", e)
	}
	// events: the newest Limit above SinceEvent, oldest first, of one terminal.
	var evs []protocol.EventView
	c.ok(protocol.OpEvents, protocol.EventsArgs{Terminal: agent.id, SinceEvent: 0, Limit: 3}, &evs)
	if len(evs) != 3 || evs[0].Seq != 7 || evs[2].Seq != 9 {
		t.Fatalf("events: %+v", evs)
	}
	c.ok(protocol.OpEvents, protocol.EventsArgs{Terminal: "t-other"}, &evs)
	if len(evs) != 0 {
		t.Fatalf("events of another terminal: %+v", evs)
	}
	select {
	case p := <-c.pushes:
		if p.Event != nil {
			t.Fatalf("extra event pushed: %+v", p.Event)
		}
	default:
	}
	// Terminal changes are pushed too: the agent goes offline.
	agent.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p := <-c.pushes:
			if p.Terminal != nil && p.Terminal.ID == agent.id && !p.Terminal.Online {
				if p.Terminal.DisplayState() != "offline" || p.Terminal.Name != "pc-01" {
					t.Fatalf("terminal push: %+v", p.Terminal)
				}
				return
			}
		case <-deadline:
			t.Fatal("no offline terminal push")
		}
	}
}

func TestSlowConsoleDroppedAgentsGoOn(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.Staff.SendQueue = 4 })
	secret := sh.setup(t, "ann", adminPW)
	sess := sh.mustLogin(t, "ann", adminPW, secret)
	agent, _ := sh.connect(t, sh.mustEnroll(t, "pc-01"), 1, nil)

	// A console with a tiny receive buffer that subscribes and then reads nothing.
	d := websocket.Dialer{TLSClientConfig: sh.clientTLS(nil), HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				c.(*net.TCPConn).SetReadBuffer(4096)
			}
			return c, err
		}}
	ws, _, err := d.Dial("wss://"+sh.Addr().String()+protocol.PathStaff, http.Header{"Authorization": {"Bearer " + sess}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sub, _ := json.Marshal(protocol.StaffRequest{ID: 1, Op: protocol.OpSubscribe, Args: json.RawMessage(`{"since_event":0}`)})
	if err := ws.WriteMessage(websocket.TextMessage, sub); err != nil {
		t.Fatal(err)
	}
	// Big events fill the console's socket, then its queue. Every batch must
	// still be stored and acknowledged while the console is stuck.
	big := strings.Repeat("x", protocol.MaxText)
	dropped := func() bool { return strings.Contains(sh.log.String(), "Staff console too slow") }
	seq := uint64(0)
	for batch := 0; !dropped(); batch++ {
		if batch == 100 {
			t.Fatalf("console not dropped after %d events", seq)
		}
		for i := 0; i < 20; i++ {
			seq++
			ev := event(seq)
			for k := 0; k < 12; k++ {
				ev.Data[fmt.Sprintf("pad%d", k)] = big
			}
			agent.send(ev)
		}
		agent.waitAck(seq)
	}
	// The agent goes on after the drop, and the hub has let go of the console
	// (its reader ended), whatever the console still has to read.
	agent.send(event(seq + 1))
	agent.waitAck(seq + 1)
	waitFor(t, 20*time.Second, "the hub to forget the slow console", func() bool {
		return sh.staff.Consoles() == 0
	})
}

func TestQuarantineListAndAuditVerify(t *testing.T) {
	sh := startStaffHub(t, nil)
	secret := sh.setup(t, "ann", adminPW)
	agent, _ := sh.connect(t, sh.mustEnroll(t, "pc-01"), 1, nil)
	evs := []*protocol.Event{
		{Kind: "download.blocked", Data: map[string]string{"id": "q1", "name": "a.exe", "sha256": "aa", "size": "10", "reason": "PE"}},
		{Kind: "download.blocked", Data: map[string]string{"id": "q2", "name": "b.msi", "sha256": "bb", "size": "20", "reason": "MSI"}},
		{Kind: "download.blocked", Data: map[string]string{"name": "c.exe", "quarantine": "failed: disk full"}},
		{Kind: "quarantine.released", Data: map[string]string{"id": "q1", "name": "a.exe", "sha256": "aa"}},
	}
	for i, e := range evs {
		e.Seq, e.Time, e.Severity = uint64(i+1), time.Now().UTC(), protocol.SeverityAlert
		agent.send(e)
	}
	agent.waitAck(uint64(len(evs)))
	c := sh.console(t, sh.mustLogin(t, "ann", adminPW, secret), nil)
	var q []protocol.QuarantineView
	c.ok(protocol.OpQuarantineList, nil, &q)
	if len(q) != 1 || q[0].ID != "q2" || q[0].Name != "b.msi" || q[0].Size != 20 || q[0].Terminal != agent.id || q[0].Released {
		t.Fatalf("quarantine.list: %+v", q)
	}
	var v protocol.AuditVerifyView
	c.ok(protocol.OpAuditVerify, nil, &v)
	if !v.OK || v.Rows < 3 {
		t.Fatalf("audit.verify: %+v", v)
	}
	// Tamper with a row behind the hub's back.
	db, err := sql.Open("sqlite", filepath.Join(sh.dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET actor = 'staff:nobody' WHERE seq = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	c.ok(protocol.OpAuditVerify, nil, &v)
	if v.OK || v.BadRow != 2 || v.Problem == "" {
		t.Fatalf("audit.verify after tampering: %+v", v)
	}
}

func TestStaffBadRequests(t *testing.T) {
	sh := startStaffHub(t, nil)
	secret := sh.setup(t, "ann", adminPW)
	c := sh.console(t, sh.mustLogin(t, "ann", adminPW, secret), nil)
	if r := c.do("exec", nil); r.OK || !strings.Contains(r.Error, "unknown op") {
		t.Fatalf("unknown op: %+v", r)
	}
	sh.wantAudit(t, "staff:ann", "staff.request", "refused: unknown op")
	if r := c.do(protocol.OpCommand, map[string]any{"terminal": "x", "action": "ping", "sudo": true}); r.OK {
		t.Fatal("unknown args field accepted")
	}
	if r := c.do(protocol.OpCommand, protocol.CommandArgs{Terminal: "nope", Action: protocol.ActionPing}); r.OK {
		t.Fatal("command to an unknown terminal succeeded")
	}
	sh.wantAudit(t, "staff:ann", "command", "failed: ")
	// A frame that is not a request ends the connection.
	c.ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"op":"terminals","extra":1}`))
	c.waitClosed()
}

// TestAnonymousFloodBoundedAudit: a flood of anonymous refusals (websockets
// without a session, browser origins, malformed and unknown-user logins, setup
// with a wrong code) adds a bounded number of audit rows, and the count of
// what was not written one by one is in a summary row when the window ends.
func TestAnonymousFloodBoundedAudit(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.Staff.MaxFailures = 1 << 20 })
	before := len(sh.auditRows(t))
	const n = 200
	client := sh.client()
	post := func(path, body string) {
		resp, err := client.Post("https://"+sh.Addr().String()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i := 0; i < n; i++ {
		if _, resp, err := sh.dialStaff("", nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("dial without a session: %v %v", resp, err)
		}
		sh.dialStaff("", http.Header{"Origin": {"https://evil.example"}})
		post(protocol.PathStaffLogin, "{")
		post(protocol.PathStaffLogin, `{"user":"nobody","password":"x","totp":"000000"}`)
		post(protocol.PathStaffSetup, `{"setup_code":"WRONG","user":"eve","password":"long enough password"}`)
	}
	added := len(sh.auditRows(t)) - before
	// One row per source, actor and action: connect (two actors), login
	// (malformed, nobody), setup.
	if added > 5 {
		t.Fatalf("%d anonymous refusals wrote %d audit rows, want at most 5", 5*n, added)
	}
	sh.wantAudit(t, "unknown", "staff.connect", "refused: no valid session")
	// The window ends: the next refusal writes the summaries first.
	sh.clock.advance(staffapi.RefusalWindow)
	sh.dialStaff("", nil)
	var summed int
	for _, r := range sh.auditRows(t) {
		var d map[string]string
		if json.Unmarshal([]byte(r.Detail), &d) == nil && d[protocol.AuditKeyCount] != "" {
			k, _ := strconv.Atoi(d[protocol.AuditKeyCount])
			summed += k
			if !strings.HasPrefix(d[protocol.AuditKeyResult], "refused "+d[protocol.AuditKeyCount]+" more times") {
				t.Errorf("summary row %+v", r)
			}
		}
	}
	// Everything not written one by one is counted (a malformed login may
	// also be refused by the address's rate limit: it is counted all the same).
	if want := 5*n - added; summed != want {
		t.Fatalf("summary rows count %d refusals, want %d", summed, want)
	}
}
