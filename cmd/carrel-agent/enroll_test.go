package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// enrollHub is a TLS server with a real pki CA that answers enrollment only.
func enrollHub(t *testing.T) (url string, ca *pki.CA, calls *int) {
	t.Helper()
	dir, err := os.MkdirTemp("", "carrel-enroll-hub-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ca, err = pki.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathEnroll, func(w http.ResponseWriter, r *http.Request) {
		n++
		var req protocol.EnrollRequest
		body, _ := io.ReadAll(r.Body)
		if protocol.DecodeJSON(body, protocol.MaxFrame, &req) != nil || req.Token != "good" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: "enrollment token expired"})
			return
		}
		c, _, _, err := ca.SignCSR(req.CSR, "t-42")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(protocol.EnrollResponse{TerminalID: "t-42", Certificate: c, CA: string(ca.CertPEM())})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	t.Cleanup(func() { srv.Close() })
	return "wss://" + ln.Addr().String(), ca, &n
}

func TestEnrollCommand(t *testing.T) {
	hub, ca, calls := enrollHub(t)
	other, err := pki.LoadOrCreate(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cfgPath := filepath.Join(root, "agent.toml")
	state := filepath.Join(root, "state")
	if err := os.WriteFile(cfgPath, []byte("state_dir = '"+state+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), append([]string{"enroll"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	base := []string{"--config", cfgPath, "--hub", hub}

	if code, _, _ := run("--help"); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	if code, _, stderr := run("--config", cfgPath, "--hub", hub, "--token", "good"); code != 2 || !strings.Contains(stderr, "required") {
		t.Fatalf("missing fingerprint: %d %s", code, stderr)
	}
	if code, _, stderr := run("--config", cfgPath, "--hub", "ws://"+strings.TrimPrefix(hub, "wss://"), "--token", "good", "--fingerprint", ca.Fingerprint()); code != 2 || !strings.Contains(stderr, "wss://") {
		t.Fatalf("ws:// hub: %d %s", code, stderr)
	}
	code, _, stderr := run(append(base, "--token", "good", "--fingerprint", other.Fingerprint())...)
	if code != 1 || !strings.Contains(stderr, "does not match the fingerprint") || *calls != 0 {
		t.Fatalf("wrong fingerprint: exit %d, %d requests reached the hub: %s", code, *calls, stderr)
	}
	code, _, stderr = run(append(base, "--token", "stale", "--fingerprint", ca.Fingerprint())...)
	if code != 1 || !strings.Contains(stderr, "token expired") || !strings.Contains(stderr, "new one in the console") {
		t.Fatalf("expired token: exit %d: %s", code, stderr)
	}
	code, _, stderr = run("--config", cfgPath, "--hub", "wss://127.0.0.1:1", "--token", "good", "--fingerprint", ca.Fingerprint())
	if code != 1 || !strings.Contains(stderr, "unreachable") || !strings.Contains(stderr, "firewall") {
		t.Fatalf("unreachable hub: exit %d: %s", code, stderr)
	}
	if c, err := config.Load(cfgPath); err != nil || c.HubURL != "" {
		t.Fatalf("hub_url written by a failed enrollment: %+v %v", c, err)
	}

	code, stdout, stderr := run(append(base, "--token", "good", "--fingerprint", ca.Fingerprint())...)
	if code != 0 || !strings.Contains(stdout, "t-42") {
		t.Fatalf("enroll: exit %d\n%s\n%s", code, stdout, stderr)
	}
	c, err := config.Load(cfgPath)
	if err != nil || c.HubURL != hub || c.StateDir != state {
		t.Fatalf("config after enroll: %+v %v", c, err)
	}
	if id, err := link.LoadIdentity(state); err != nil || id.TerminalID != "t-42" {
		t.Fatalf("identity: %+v %v", id, err)
	}
	// Again: already enrolled, nothing sent.
	before := *calls
	code, stdout, _ = run(append(base, "--token", "good", "--fingerprint", ca.Fingerprint())...)
	if code != 0 || !strings.Contains(stdout, "Already enrolled") || *calls != before {
		t.Fatalf("second enroll: exit %d, %s, %d new requests", code, stdout, *calls-before)
	}

	// config check sees the enrollment; config example parses.
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"config", "check", "--config", cfgPath}, &out, &errb); code != 0 || !strings.Contains(out.String(), "t-42") {
		t.Fatalf("config check: %d %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"config", "example"}, &out, &errb); code != 0 {
		t.Fatalf("config example: %d", code)
	}
	if _, err := config.Parse(out.Bytes()); err != nil {
		t.Fatalf("config example does not parse: %v", err)
	}
}

func TestRunRefusesOpenStateDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix mode bits; the Windows DACL check is tested in agent/config")
	}
	root := t.TempDir()
	state := filepath.Join(root, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(state, 0o755)
	cfgPath := filepath.Join(root, "agent.toml")
	if err := os.WriteFile(cfgPath, []byte("hub_url = 'wss://127.0.0.1:1'\nstate_dir = '"+state+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"run", "--config", cfgPath}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "chmod -R go-rwx "+state) {
		t.Fatalf("run with a 0755 state dir: exit %d: %s", code, errb.String())
	}
}
