package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// newHubData makes a hub data directory (CA, audit key, database) holding the
// named terminals, as a hub that enrolled them would.
func newHubData(t *testing.T, names ...string) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "hub")
	if _, err := pki.LoadOrCreate(data); err != nil {
		t.Fatal(err)
	}
	addTerminals(t, data, names...)
	return data
}

func openData(t *testing.T, data string) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(data, hub.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.UseAuditKey(st, filepath.Join(data, store.AuditKeyFile)); err != nil {
		t.Fatal(err)
	}
	return st
}

func addTerminals(t *testing.T, data string, names ...string) {
	t.Helper()
	st := openData(t, data)
	defer st.Close()
	for _, n := range names {
		if err := st.AddTerminal(context.Background(), store.Terminal{ID: "t-" + n, Name: n, OS: "linux",
			CertSerial: "s-" + n, CertNotAfter: time.Now().Add(time.Hour)}, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

func terminalNames(t *testing.T, data string) string {
	t.Helper()
	code, out, errs := run(t, "terminals", "--json", "--data", data)
	var list []terminalJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("terminals: %d %s %s", code, out, errs)
	}
	var s []string
	for _, x := range list {
		s = append(s, x.Name+"="+x.State)
	}
	return strings.Join(s, " ")
}

func backupOf(t *testing.T, data string) string {
	t.Helper()
	b := filepath.Join(t.TempDir(), "backup.db")
	if code, _, errs := run(t, "backup", "--data", data, b); code != 0 {
		t.Fatalf("backup: %s", errs)
	}
	return b
}

// TestRestore: a backup, then changes (a PC added, one revoked), then the
// backup restored: the terminals are the backup's again, the chain verifies
// against the head the backup carries, and the replaced database is kept.
func TestRestore(t *testing.T) {
	data := newHubData(t, "pc-1", "pc-2")
	backup := backupOf(t, data)
	addTerminals(t, data, "pc-3")
	if code, _, errs := run(t, "revoke", "--data", data, "pc-1"); code != 0 {
		t.Fatal(errs)
	}
	if got := terminalNames(t, data); got != "pc-1=revoked pc-2=offline pc-3=offline" {
		t.Fatalf("before restore: %s", got)
	}

	code, out, errs := run(t, "restore", backup, "--data", data)
	if code != 0 {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	for _, want := range []string{"terminals: 2 (0 revoked)", "rows verified, MACs checked from row 1", "1 signed by this hub's CA, all hold", "hub.db.before-restore-"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore output lacks %q:\n%s", want, out)
		}
	}
	if got := terminalNames(t, data); got != "pc-1=offline pc-2=offline" {
		t.Errorf("after restore: %s", got)
	}
	if code, out, errs := run(t, "audit", "verify", "--data", data, "--backup", backup); code != 0 || !strings.Contains(out, ": holds") {
		t.Errorf("audit verify after restore: %d %s %s", code, out, errs)
	}
	kept, _ := filepath.Glob(filepath.Join(data, hub.DBFile+".before-restore-*"))
	if len(kept) != 1 {
		t.Fatalf("kept aside: %v", kept)
	}
	old, err := store.Open(kept[0])
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := old.Terminals(context.Background())
	old.Close()
	if len(ts) != 3 {
		t.Errorf("the kept database has %d terminals, want the 3 from before the restore", len(ts))
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".restore-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestRestoreRefuses: nothing is replaced when the backup is not one, is
// damaged, is newer, is another hub's or has a broken chain, when DIR has no
// CA, or when a hub runs on DIR; each says why.
func TestRestoreRefuses(t *testing.T) {
	data := newHubData(t, "pc-1")
	backup := backupOf(t, data)
	dir := t.TempDir()
	variant := func(name string, edit func(path string)) string {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(backup)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		edit(p)
		return p
	}
	sqlExec := func(path string, qs ...string) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range qs {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(q, err)
			}
		}
	}
	notSQLite := filepath.Join(dir, "notes.txt")
	os.WriteFile(notSQLite, []byte("hub backup, December\n"), 0o600)
	damaged := variant("damaged.db", func(p string) {
		b, _ := os.ReadFile(p)
		for i := 4096; i < len(b) && i < 3*4096; i++ {
			b[i] = 0xa5
		}
		os.WriteFile(p, b, 0o600)
	})
	newer := variant("newer.db", func(p string) { sqlExec(p, `UPDATE schema_version SET version = 999`) })
	tampered := variant("tampered.db", func(p string) {
		sqlExec(p, `DROP TRIGGER audit_no_update`, `UPDATE audit SET actor = 'staff:mallory' WHERE seq = 1`)
	})
	other := backupOf(t, newHubData(t, "pc-9"))

	emptyDir := filepath.Join(t.TempDir(), "new")
	os.Mkdir(emptyDir, 0o700)
	cases := []struct {
		name, file, data, want string
	}{
		{"not a database", notSQLite, data, "not a carrel-hub backup: not an SQLite database"},
		{"missing file", filepath.Join(dir, "none.db"), data, "no such file"},
		{"damaged", damaged, data, "damaged.db is damaged"},
		{"newer schema", newer, data, "newer.db refused: database schema is newer than this carrel-hub: the database is at version 999"},
		{"broken chain", tampered, data, "tampered.db refused: audit chain broken at row 1"},
		{"another hub's", other, data, "the backup is another hub's"},
		{"no CA", backup, emptyDir, "no CA in"},
	}
	before, _ := os.ReadFile(filepath.Join(data, hub.DBFile))
	unchanged := func(t *testing.T) {
		t.Helper()
		now, _ := os.ReadFile(filepath.Join(data, hub.DBFile))
		if !bytes.Equal(now, before) {
			t.Error("hub.db changed")
		}
		if left, _ := filepath.Glob(filepath.Join(data, "*restore*")); len(left) > 0 {
			t.Errorf("files left: %v", left)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := run(t, "restore", "--data", c.data, c.file)
			if code != 1 || !strings.Contains(errs, c.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s%s", code, c.want, out, errs)
			}
			unchanged(t)
		})
	}

	t.Run("hub.json names a live carrel-hub", func(t *testing.T) {
		// A process whose name is carrel-hub, standing in for a hub whose
		// control socket is gone.
		fake := filepath.Join(t.TempDir(), "carrel-hub")
		sleep, err := exec.LookPath("sleep")
		if err != nil {
			t.Skip("no sleep")
		}
		b, _ := os.ReadFile(sleep)
		os.WriteFile(fake, b, 0o755)
		p := exec.Command(fake, "60")
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { p.Process.Kill(); p.Wait() }()
		pub := filepath.Join(data, hub.PublishFile)
		os.WriteFile(pub, []byte(fmt.Sprintf(`{"pid": %d}`, p.Process.Pid)), 0o600)
		defer os.Remove(pub)
		code, _, errs := run(t, "restore", backup, "--data", data)
		if code != 1 || !strings.Contains(errs, fmt.Sprintf("a hub is running on %s (process %d", data, p.Process.Pid)) {
			t.Errorf("exit %d: %s", code, errs)
		}
		unchanged(t)
		// The same PID file naming a process that is not a hub (a stale
		// hub.json whose PID was reused) does not block a restore.
		os.WriteFile(pub, []byte(fmt.Sprintf(`{"pid": %d}`, os.Getpid())), 0o600)
		if code, _, errs := run(t, "restore", backup, "--data", data); code != 0 {
			t.Errorf("stale hub.json: exit %d: %s", code, errs)
		}
	})

	t.Run("control socket answers", func(t *testing.T) {
		h := serveInProcess(t, data, "127.0.0.1:0")
		code, _, errs := run(t, "restore", backup, "--data", data)
		if code != 1 || !strings.Contains(errs, "its control socket answers") {
			t.Errorf("exit %d: %s", code, errs)
		}
		h.stop(t)
	})
}

// inProcessHub is `carrel-hub serve` run in the test process.
type inProcessHub struct {
	addr, fp string
	cancel   context.CancelFunc
	done     chan int
	stderr   *syncBuffer
}

func serveInProcess(t *testing.T, data, listen string) *inProcessHub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &inProcessHub{cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	out := &syncBuffer{}
	go func() { h.done <- dispatch(ctx, []string{"serve", "--data", data, "--listen", listen}, out, h.stderr) }()
	t.Cleanup(func() { h.stop(t) })
	re := regexp.MustCompile(`listening on (\S+)\nCA fingerprint: ([0-9a-f]{64})`)
	waitFor(t, 10*time.Second, "serve to print its address", func() bool {
		select {
		case code := <-h.done:
			h.done <- code
			t.Fatalf("serve exited %d: %s", code, h.stderr.String())
		default:
		}
		return re.MatchString(out.String())
	})
	m := re.FindStringSubmatch(out.String())
	h.addr, h.fp = m[1], m[2]
	waitFor(t, 10*time.Second, "hub.sock", func() bool {
		_, err := os.Stat(filepath.Join(data, hub.SocketFile))
		return err == nil
	})
	return h
}

func (h *inProcessHub) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case code := <-h.done:
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, h.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop")
	}
}

// testAgent is a minimal agent: an enrolled identity that can say Hello.
type testAgent struct {
	id  string
	cfg *tls.Config
}

func enrollTestAgent(t *testing.T, addr, fp, token, name string) testAgent {
	t.Helper()
	pin, _ := pki.ParseFingerprint(fp)
	tcfg := pki.PinnedTLSConfig(pin, "127.0.0.1")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	body, _ := json.Marshal(protocol.EnrollRequest{Token: token, Hostname: name, OS: "linux",
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))})
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg}}
	defer cl.CloseIdleConnections()
	resp, err := cl.Post("https://"+addr+protocol.PathEnroll, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var er protocol.EnrollResponse
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	block, _ := pem.Decode([]byte(er.Certificate))
	if resp.StatusCode != 200 || block == nil {
		t.Fatalf("enroll: %d", resp.StatusCode)
	}
	acfg := tcfg.Clone()
	acfg.Certificates = []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}
	return testAgent{id: er.TerminalID, cfg: acfg}
}

// connect holds a connection to the hub at addr open until t ends.
func (a testAgent) connect(t *testing.T, addr, name string) {
	t.Helper()
	ws, _, err := (&websocket.Dialer{TLSClientConfig: a.cfg}).Dial("wss://"+addr+protocol.PathAgent, nil)
	if err != nil {
		t.Fatalf("agent %s connect: %v", name, err)
	}
	t.Cleanup(func() { ws.Close() })
	hello, err := protocol.Encode(&protocol.Hello{TerminalID: a.id, NextSeq: 1, Status: protocol.Status{Hostname: name, OS: "linux",
		AgentVersion: "1.0", Session: protocol.SessionInUse, MemUsed: 1, MemTotal: 4}})
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteMessage(websocket.TextMessage, hello)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
}

// TestRestoreOnNewServer is the move to a new server: the old hub's CA and
// audit key copied into a fresh data directory, its backup restored there,
// the new hub started on the same address: the enrolled PCs' certificates are
// accepted and they are online again, and the audit chain verifies.
func TestRestoreOnNewServer(t *testing.T) {
	oldData := filepath.Join(t.TempDir(), "hub")
	h := serveInProcess(t, oldData, "127.0.0.1:0")
	code, out, errs := run(t, "token", "create", "--data", oldData, "--uses", "2", "--ttl", "1h")
	tok := regexp.MustCompile(`--token ([A-Z2-7]{52})`).FindStringSubmatch(out)
	if code != 0 || tok == nil {
		t.Fatalf("token create: %d %s %s", code, out, errs)
	}
	agents := map[string]testAgent{}
	for _, n := range []string{"pc-1", "pc-2"} {
		agents[n] = enrollTestAgent(t, h.addr, h.fp, tok[1], n)
	}
	backup := backupOf(t, oldData)
	h.stop(t)

	newData := filepath.Join(t.TempDir(), "hub")
	os.Mkdir(newData, 0o700)
	for _, f := range []string{"ca.pem", "ca.key", store.AuditKeyFile} {
		b, err := os.ReadFile(filepath.Join(oldData, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(newData, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errs := run(t, "restore", backup, "--data", newData); code != 0 || !strings.Contains(out, "terminals: 2 (0 revoked)") {
		t.Fatalf("restore on the new server: %d %s %s", code, out, errs)
	}
	h2 := serveInProcess(t, newData, h.addr)
	if h2.fp != h.fp {
		t.Fatalf("new server's CA %s, old %s", h2.fp, h.fp)
	}
	for n, a := range agents {
		a.connect(t, h2.addr, n)
	}
	var names string
	defer func() {
		if t.Failed() {
			t.Log(names, h2.stderr.String())
		}
	}()
	waitFor(t, 10*time.Second, "both PCs online on the new server", func() bool {
		names = terminalNames(t, newData)
		return names == "pc-1=online pc-2=online"
	})

	if code, out, errs := run(t, "audit", "verify", "--data", newData, "--backup", backup); code != 0 || !strings.Contains(out, ": holds") {
		t.Errorf("audit verify on the new server: %d %s %s", code, out, errs)
	}
}
