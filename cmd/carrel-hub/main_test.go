package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"--help"}, 0, "commands:"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"serve", "--help"}, 0, "--listen"},
		{[]string{"token", "create", "--help"}, 0, "--uses"},
		{[]string{"token", "create", "--uses", "0"}, 2, "at least 1"},
		{[]string{"terminals", "--data", missing}, 1, "run 'carrel-hub serve' first to create the CA"},
		{[]string{"token", "create", "--data", missing}, 1, "run 'carrel-hub serve' first to create the CA"},
		{[]string{"revoke", "--data", missing}, 2, "usage"},
		{[]string{"command", "--data", missing, "pc", "exec"}, 2, "unknown action"},
		{[]string{"command", "--data", missing, "pc", "ping"}, 1, "run 'carrel-hub serve' first"},
		{[]string{"audit"}, 2, "audit verify"},
	}
	for _, c := range cases {
		code, out, errs := run(t, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%v: exit %d, want %d; output %q does not contain %q", c.args, code, c.code, out+errs, c.want)
		}
	}
}

// TestServeAndManage runs serve in-process and drives every other subcommand
// against it, with a minimal agent enrolled over real TLS.
func TestServeAndManage(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
	ctx, cancel := context.WithCancel(context.Background())
	serveOut, serveErr := &syncBuffer{}, &syncBuffer{}
	served := make(chan int, 1)
	go func() {
		served <- dispatch(ctx, []string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--name", "hub.test"}, serveOut, serveErr)
	}()
	defer func() {
		cancel()
		select {
		case code := <-served:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, serveErr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	addrRE := regexp.MustCompile(`listening on (\S+)\nCA fingerprint: ([0-9a-f]{64})`)
	waitFor(t, 10*time.Second, "serve to print its address", func() bool { return addrRE.MatchString(serveOut.String()) })
	m := addrRE.FindStringSubmatch(serveOut.String())
	addr, fp := m[1], m[2]
	waitFor(t, 10*time.Second, "hub.sock", func() bool { _, err := os.Stat(filepath.Join(data, "hub.sock")); return err == nil })

	code, out, errs := run(t, "token", "create", "--data", data, "--uses", "2", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errs)
	}
	_, port, _ := strings.Cut(addr, ":")
	lineRE := regexp.MustCompile(`carrel-agent enroll --hub (\S+) --token ([A-Z2-7]{52}) --fingerprint ([0-9a-f]{64})`)
	lm := lineRE.FindStringSubmatch(out)
	if lm == nil || lm[1] != "wss://hub.test:"+port || lm[3] != fp {
		t.Fatalf("token create output lacks the agent command line for wss://hub.test:%s: %q", port, out)
	}
	if strings.Contains(errs, "no public name") {
		t.Fatalf("token create warned of no public name on a hub serving --name hub.test: %q", errs)
	}
	token := lm[2]

	// A minimal agent: enroll, connect, say hello, answer commands.
	pin, _ := pki.ParseFingerprint(fp)
	tcfg := pki.PinnedTLSConfig(pin, "127.0.0.1")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	body, _ := json.Marshal(protocol.EnrollRequest{Token: token, Hostname: "lab-pc-7", OS: "linux",
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))})
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	resp, err := cl.Post("https://"+addr+protocol.PathEnroll, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var er protocol.EnrollResponse
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	cl.CloseIdleConnections()
	block, _ := pem.Decode([]byte(er.Certificate))
	if resp.StatusCode != 200 || block == nil {
		t.Fatalf("enroll: %d", resp.StatusCode)
	}
	acfg := tcfg.Clone()
	acfg.Certificates = []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}
	ws, _, err := (&websocket.Dialer{TLSClientConfig: acfg}).Dial("wss://"+addr+protocol.PathAgent, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hello, _ := protocol.Encode(&protocol.Hello{TerminalID: er.TerminalID, NextSeq: 1, Status: protocol.Status{Hostname: "lab-pc-7",
		OS: "linux", AgentVersion: "1.0", Session: protocol.SessionInUse, CPUPercent: 12, MemUsed: 1, MemTotal: 4}})
	ws.WriteMessage(websocket.TextMessage, hello)
	agentDone := make(chan struct{})
	go func() {
		defer close(agentDone)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			msg, err := protocol.Decode(data)
			if err != nil {
				return
			}
			if c, ok := msg.(*protocol.Command); ok {
				r := &protocol.Result{ID: c.ID, OK: c.Action != protocol.ActionReboot, Output: "done", Time: time.Now()}
				if !r.OK {
					r.Error = "refused: patron session active"
				}
				b, _ := protocol.Encode(r)
				ws.WriteMessage(websocket.TextMessage, b)
			}
		}
	}()

	var list []terminalJSON
	waitFor(t, 10*time.Second, "terminal online in 'terminals --json'", func() bool {
		code, out, _ := run(t, "terminals", "--data", data, "--json")
		list = nil
		return code == 0 && json.Unmarshal([]byte(out), &list) == nil && len(list) == 1 && list[0].State == "online" &&
			strings.Contains(string(list[0].LastStatus), "in-use")
	})
	if list[0].Name != "lab-pc-7" || list[0].ID != er.TerminalID {
		t.Fatalf("terminals --json: %+v", list)
	}
	if code, out, _ := run(t, "terminals", "--data", data); code != 0 || !strings.Contains(out, "lab-pc-7") || !strings.Contains(out, "in-use, cpu 12%, mem 25%") {
		t.Fatalf("terminals table: %d %q", code, out)
	}
	if code, out, errs := run(t, "command", "--data", data, "lab-pc-7", "message", "text=closing in 10 minutes"); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("command message: %d %q %q", code, out, errs)
	}
	if code, out, _ := run(t, "command", "--data", data, "lab-pc-7", "reboot"); code != 1 || !strings.Contains(out, "patron session active") {
		t.Fatalf("refused command: exit %d %q, want 1", code, out)
	}
	backup := filepath.Join(t.TempDir(), "copy.db")
	if code, _, errs := run(t, "backup", "--data", data, backup); code != 0 {
		t.Fatalf("backup: %s", errs)
	}
	if code, _, errs := run(t, "revoke", "--data", data, "lab-pc-7"); code != 0 {
		t.Fatalf("revoke: %s", errs)
	}
	select {
	case <-agentDone:
	case <-time.After(10 * time.Second):
		t.Fatal("revoked agent not dropped")
	}
	code, out, _ = run(t, "audit", "verify", "--data", data)
	if code != 0 || !strings.Contains(out, "audit log intact") {
		t.Fatalf("audit verify: %d %q", code, out)
	}
	if code, out, _ := run(t, "terminals", "--data", data, "--json"); code != 0 || !strings.Contains(out, `"state": "revoked"`) {
		t.Fatalf("after revoke: %q", out)
	}
}

func TestAuditVerifyDetectsTamper(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
	if _, err := pki.LoadOrCreate(data); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		st.Audit(context.Background(), "local:root", "test", "x", nil)
	}
	st.Close()
	if code, out, _ := run(t, "audit", "verify", "--data", data); code != 0 || !strings.Contains(out, "3 rows verified") {
		t.Fatalf("clean log: %d %q", code, out)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET target = 'y' WHERE seq = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	code, _, errs := run(t, "audit", "verify", "--data", data)
	if code != 1 || !strings.Contains(errs, "audit chain broken at row 2") {
		t.Fatalf("tampered log: exit %d %q", code, errs)
	}
}

// TestTerminalsTableEscapesAgentText: a name that came from a PC (here one an
// older hub stored before names were checked at enrollment) reaches the
// admin's terminal escaped: no escape sequence runs, no bidi override
// reverses the line. The JSON keeps the name exact for scripts.
func TestTerminalsTableEscapesAgentText(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
	if _, err := pki.LoadOrCreate(data); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	evil := "PC-\u202eexe.txt\x1b]0;pwned\x07\x1b[2J"
	if err := st.AddTerminal(context.Background(), store.Terminal{ID: "t-0123456789abcdef", Name: evil, OS: "linux\x1b[31m",
		CertSerial: "01", CertNotAfter: time.Now().Add(time.Hour)}, "test"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errs := run(t, "terminals", "--data", data)
	if code != 0 {
		t.Fatalf("terminals: %d %s", code, errs)
	}
	if strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Fatalf("raw control or bidi characters printed: %q", out)
	}
	if !strings.Contains(out, `PC-\u202eexe.txt\x1b]0;pwned\x07\x1b[2J`) || !strings.Contains(out, `linux\x1b[31m`) {
		t.Fatalf("name not shown escaped: %q", out)
	}
	code, out, _ = run(t, "terminals", "--json", "--data", data)
	var ts []struct{ Name string }
	if code != 0 || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 1 || ts[0].Name != evil {
		t.Fatalf("JSON does not keep the name exact: %d %q", code, out)
	}
}

// TestAuditVerifyKeyAndHeads: a row rewritten with every hash recomputed (the
// triggers dropped and put back) fails on its MAC; rows cut off the end fail
// against the head a backup carries and against a head copied from the log.
func TestAuditVerifyKeyAndHeads(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hub")
	if _, err := pki.LoadOrCreate(data); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.UseAuditKey(st, filepath.Join(data, store.AuditKeyFile)); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"staff:ann", "staff:bob", "staff:ann", "staff:ann"} {
		st.Audit(context.Background(), who, protocol.AuditCommand, "t-1", nil)
	}
	st.Close()
	backup := filepath.Join(t.TempDir(), "b.db")
	code, out, errs := run(t, "backup", "--data", data, backup)
	if code != 0 || !strings.Contains(out, "ah1.") {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	code, out, errs = run(t, "audit", "verify", "--data", data, "--backup", backup)
	if code != 0 || !strings.Contains(out, "keyed") || !strings.Contains(out, ": holds") {
		t.Fatalf("clean log against its backup: %d %q %q", code, out, errs)
	}
	logged := filepath.Join(t.TempDir(), "journal.txt")
	os.WriteFile(logged, []byte("Dec 07 10:00:00 hub carrel-hub[1]: level=INFO msg=\"Audit head\" "+protocol.FindAuditHeads(out)[0].String()+"\n"), 0o600)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(qs ...string) {
		for _, q := range qs {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(q, err)
			}
		}
	}
	// Cut the last two rows off: chain and MACs still hold; the heads do not.
	exec(`DROP TRIGGER audit_no_delete`, `DELETE FROM audit WHERE seq > (SELECT MAX(seq) - 2 FROM audit)`)
	if code, out, _ := run(t, "audit", "verify", "--data", data); code != 0 || !strings.Contains(out, "none given") {
		t.Fatalf("cut log without heads: %d %q", code, out)
	}
	for _, flag := range []string{"--backup", "--heads"} {
		src := map[string]string{"--backup": backup, "--heads": logged}[flag]
		if code, _, errs := run(t, "audit", "verify", "--data", data, flag, src); code != 1 || !strings.Contains(errs, "are missing") {
			t.Fatalf("cut log against %s: %d %q", flag, code, errs)
		}
	}
	// Rewrite row 2's actor and recompute every hash: the MAC names row 2.
	exec(`DROP TRIGGER audit_no_update`)
	rows, err := db.Query(`SELECT seq, time, actor, action, target, detail FROM audit ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq, t                        int64
		actor, action, target, detail string
	}
	var all []row
	for rows.Next() {
		var r row
		rows.Scan(&r.seq, &r.t, &r.actor, &r.action, &r.target, &r.detail)
		all = append(all, r)
	}
	rows.Close()
	prev := make([]byte, 32)
	for _, r := range all {
		if r.seq == 2 {
			r.actor = "staff:mallory"
		}
		b, _ := json.Marshal([]any{r.seq, r.t, r.actor, r.action, r.target, r.detail})
		sum := sha256.Sum256(append(append([]byte{}, prev...), b...))
		exec2 := func(q string, a ...any) {
			if _, err := db.Exec(q, a...); err != nil {
				t.Fatal(err)
			}
		}
		exec2(`UPDATE audit SET actor = ?, prev = ?, hash = ? WHERE seq = ?`, r.actor, prev, sum[:], r.seq)
		prev = sum[:]
	}
	code, _, errs = run(t, "audit", "verify", "--data", data)
	if code != 1 || !strings.Contains(errs, "audit chain broken at row 2") || !strings.Contains(errs, "MAC") {
		t.Fatalf("rewritten log: %d %q", code, errs)
	}
}
