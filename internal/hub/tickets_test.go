package hub

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// An agent that reconnects resumes its TLS session, after a hub restart too
// (the ticket secret is kept in the data directory); resuming skips no check:
// a revoked terminal is refused on a resumed session as on a full one.
func TestAgentsResumeTheirTLSSession(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-01")
	cfg := th.clientTLS(&c.cert)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	// greet says Hello as an agent does and reports whether the session was
	// resumed; the ticket for the next one arrives after the handshake.
	greet := func(th *testHub) (resumed bool, code int) {
		t.Helper()
		d := websocket.Dialer{TLSClientConfig: cfg, HandshakeTimeout: 10 * time.Second}
		ws, resp, err := d.Dial("wss://"+th.Addr().String()+protocol.PathAgent, nil)
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return false, resp.StatusCode
		}
		defer ws.Close()
		hello, err := protocol.Encode(&protocol.Hello{TerminalID: c.id, NextSeq: 1, Status: status(c.id)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, hello); err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if m, err := protocol.Decode(data); err != nil || m.MsgType() != protocol.TypeWelcome {
			t.Fatalf("answer to Hello: %v %v", m, err)
		}
		return ws.NetConn().(*tls.Conn).ConnectionState().DidResume, http.StatusSwitchingProtocols
	}
	if resumed, _ := greet(th); resumed {
		t.Fatal("the first connection resumed a session")
	}
	if resumed, _ := greet(th); !resumed {
		t.Fatal("the second connection did not resume the session")
	}
	fi, err := os.Stat(filepath.Join(th.dir, TicketKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ticket secret file: %v, %v; want mode 0600", fi, err)
	}
	if err := th.stop(t); err != nil {
		t.Fatal(err)
	}
	again := startHub(t, func(cfg *Config) { cfg.DataDir = th.dir })
	if resumed, _ := greet(again); !resumed {
		t.Fatal("after a hub restart the connection did not resume the session")
	}
	if _, err := again.Revoke(context.Background(), c.id, "test"); err != nil {
		t.Fatal(err)
	}
	if _, code := greet(again); code == http.StatusSwitchingProtocols {
		t.Fatal("a revoked terminal was let in on a resumed session")
	}
}

func TestTicketKeysRotateDaily(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	day := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	today, tomorrow := ticketKeys(secret, day), ticketKeys(secret, day.Add(24*time.Hour))
	if len(today) != ticketKeyDays || today[0] == today[1] {
		t.Fatalf("keys: %x", today)
	}
	if tomorrow[1] != today[0] {
		t.Fatal("tomorrow no longer accepts tickets made today")
	}
	if ticketKeys(secret, day.Add(time.Hour))[0] != today[0] {
		t.Fatal("the key changed within the day")
	}
	if other := ticketKeys([]byte("another secret, thirty-two bytes"), day); other[0] == today[0] {
		t.Fatal("the keys do not depend on the secret")
	}
}
