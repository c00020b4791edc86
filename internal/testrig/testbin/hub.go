package testbin

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the hub's database, read by DB and Events

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
)

// Hub is a real `carrel-hub serve` on loopback with a data directory of its
// own, and the commands IT runs against that directory. Its methods are for
// the test's own goroutine.
type Hub struct {
	Bin  string // the carrel-hub binary
	Data string // its --data directory
	// Addr is the host:port it listens on for agents and the console, as it
	// printed; it keeps it across Restart.
	Addr string
	// Fingerprint is the CA fingerprint it printed, the one agents pin.
	Fingerprint string

	proc   *Proc
	starts int
	db     *sql.DB // opened by DB
}

var (
	listeningLine   = regexp.MustCompile(`(?m)^carrel-hub listening on (\S+)$`)
	fingerprintLine = regexp.MustCompile(`(?m)^CA fingerprint: (\S+)$`)
	enrollLine      = regexp.MustCompile(`carrel-agent enroll --hub (\S+) --token (\S+) --fingerprint (\S+)`)
)

// StartHub serves bin (a carrel-hub) on a free 127.0.0.1 port with a fresh
// data directory under t.TempDir, and returns once it has printed its address
// and fingerprint. It is stopped when t ends.
func StartHub(t testing.TB, bin string) *Hub {
	t.Helper()
	h := &Hub{Bin: bin, Data: filepath.Join(t.TempDir(), "hub")}
	if err := os.MkdirAll(h.Data, 0o700); err != nil {
		t.Fatal(err)
	}
	h.serve(t, "127.0.0.1:0")
	return h
}

// serve starts `carrel-hub serve` on listen and waits until it prints where
// it listens and its CA fingerprint (it listens from then on).
func (h *Hub) serve(t testing.TB, listen string) {
	t.Helper()
	h.starts++
	name := "carrel-hub serve"
	if h.starts > 1 {
		name = fmt.Sprintf("carrel-hub serve (start %d)", h.starts)
	}
	p := Start(t, name, nil, h.Bin, "serve", "--data", h.Data, "--listen", listen)
	var addr, fp string
	WaitFor(t, 30*time.Second, name+" to print its address and fingerprint", func() bool {
		select {
		case <-p.Done():
			t.Fatalf("%s exited (%v):\n%s", name, p.Err(), p.Output())
		default:
		}
		out := p.Output()
		a, f := listeningLine.FindStringSubmatch(out), fingerprintLine.FindStringSubmatch(out)
		if a == nil || f == nil {
			return false
		}
		addr, fp = a[1], f[1]
		return true
	})
	if h.Addr != "" && (addr != h.Addr || fp != h.Fingerprint) {
		t.Fatalf("%s listens on %s with CA %s; before it was %s with %s", name, addr, fp, h.Addr, h.Fingerprint)
	}
	h.Addr, h.Fingerprint, h.proc = addr, fp, p
}

// Stop stops the hub (see Proc.Stop); its data stays for Restart. Stopping a
// stopped hub does nothing.
func (h *Hub) Stop(t testing.TB) {
	t.Helper()
	h.proc.Stop(t)
}

// Restart stops the hub if it runs and serves it again on the same address
// and data directory; the CA, and so the fingerprint, must be the same.
func (h *Hub) Restart(t testing.TB) {
	t.Helper()
	h.Stop(t)
	h.serve(t, h.Addr)
}

// URL is the address agents dial.
func (h *Hub) URL() string { return "wss://" + h.Addr }

// SetupCode is the one-time first-run code the hub made for the first staff
// account, or "" once an account exists.
func (h *Hub) SetupCode(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Data, staffapi.SetupCodeFile))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Token is what `carrel-hub token create` prints for IT to run on each PC.
type Token struct {
	HubURL, Token, Fingerprint string
}

// Token creates an enrollment token for uses PCs, valid ten minutes, for
// agents dialling URL, and returns the three values from the agent command
// line it prints.
func (h *Hub) Token(t testing.TB, uses int) Token {
	t.Helper()
	out := Run(t, h.Bin, "token", "create", "--data", h.Data, "--uses", fmt.Sprint(uses), "--ttl", "10m", "--hub-url", h.URL())
	m := enrollLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token create printed no agent command line:\n%s", out)
	}
	return Token{HubURL: m[1], Token: m[2], Fingerprint: m[3]}
}

// Terminal is one row of `carrel-hub terminals --json`.
type Terminal struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	OS           string          `json:"os"`
	AgentVersion string          `json:"agent_version"`
	State        string          `json:"state"` // online, offline, revoked
	Online       bool            `json:"online"`
	Locked       bool            `json:"locked"`
	LastStatus   json.RawMessage `json:"last_status,omitempty"`
}

// Session is the seat state in the terminal's last status ("" before any).
func (x Terminal) Session() protocol.SessionState {
	var s protocol.Status
	if len(x.LastStatus) == 0 || json.Unmarshal(x.LastStatus, &s) != nil {
		return ""
	}
	return s.Session
}

// Terminals runs `carrel-hub terminals --json`.
func (h *Hub) Terminals(t testing.TB) []Terminal {
	t.Helper()
	out := Run(t, h.Bin, "terminals", "--data", h.Data, "--json")
	var ts []Terminal
	if err := json.Unmarshal([]byte(out), &ts); err != nil {
		t.Fatalf("terminals --json: %v\n%s", err, out)
	}
	return ts
}

// Online is the terminals the hub shows online.
func (h *Hub) Online(t testing.TB) []Terminal {
	t.Helper()
	var on []Terminal
	for _, x := range h.Terminals(t) {
		if x.Online {
			on = append(on, x)
		}
	}
	return on
}

// DB is the hub's database, opened read-only beside the running hub at the
// first call and closed when that call's t ends.
func (h *Hub) DB(t testing.TB) *sql.DB {
	t.Helper()
	if h.db == nil {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(h.Data, "hub.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		h.db = db
		t.Cleanup(func() { db.Close() })
	}
	return h.db
}

// Event is one agent event as the hub stored it.
type Event struct {
	Terminal   string
	Epoch, Seq int64
	Time       time.Time // when the agent recorded it
	ReceivedAt time.Time
	Kind       string
	Data       map[string]string
}

// Events reads the events the hub stored for terminal ("" for every
// terminal) of kind ("" for every kind), in the order each agent sent them.
func (h *Hub) Events(t testing.TB, terminal, kind string) []Event {
	t.Helper()
	rows, err := h.DB(t).Query(`SELECT terminal, epoch, seq, time, received_at, kind, data FROM events
		WHERE (?1 = '' OR terminal = ?1) AND (?2 = '' OR kind = ?2) ORDER BY terminal, epoch, seq`, terminal, kind)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at, recv int64
		var data string
		if err := rows.Scan(&e.Terminal, &e.Epoch, &e.Seq, &at, &recv, &e.Kind, &data); err != nil {
			t.Fatal(err)
		}
		e.Time, e.ReceivedAt = time.UnixMilli(at), time.UnixMilli(recv)
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			t.Fatalf("event data %s: %v", data, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read events: %v", err)
	}
	return out
}
