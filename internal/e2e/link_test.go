package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// storedEvents counts, per terminal, events of kind in the hub's database, and
// reports any (terminal, seq) stored more than once. The hub's key is (terminal,
// epoch, seq), so an exact duplicate cannot exist; what this catches is an event
// the hub stored again under a new epoch because it wrongly took a reconnect for
// an outbox reset.
func storedEvents(t *testing.T, dbPath, kind string) (perTerminal map[string]int, dupes int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT terminal, COUNT(*) FROM events WHERE kind = ? GROUP BY terminal`, kind)
	if err != nil {
		t.Fatalf("query events: %v", err)
	}
	perTerminal = map[string]int{}
	for rows.Next() {
		var term string
		var n int
		if err := rows.Scan(&term, &n); err != nil {
			t.Fatal(err)
		}
		perTerminal[term] = n
	}
	rows.Close()
	if err := db.QueryRow(`SELECT COUNT(*) FROM (SELECT terminal, seq FROM events GROUP BY terminal, seq HAVING COUNT(*) > 1)`).Scan(&dupes); err != nil {
		t.Fatalf("query duplicates: %v", err)
	}
	return perTerminal, dupes
}

// TestLinkEndToEnd is the link issue's "done means": real binaries, a hub on
// loopback, three enrolled agents online in `carrel-hub terminals`; the hub is
// stopped while the agents keep producing events (each agent restart is an
// `agent.started` event that waits in its outbox), then restarted, and every
// event is stored exactly once.
func TestLinkEndToEnd(t *testing.T) {
	hubBin, agentBin := build(t)
	root := t.TempDir()
	data := filepath.Join(root, "hub")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	hubURL := "wss://" + addr
	serve := func() *proc {
		p := start(t, "carrel-hub serve", hubBin, "serve", "--data", data, "--listen", addr)
		waitFor(t, 30*time.Second, "the hub to listen", func() bool { return dialable(addr) })
		return p
	}
	hub := serve()

	url, token, fp := tokenCreate(t, hubBin, data, hubURL, 3)
	if url != hubURL {
		t.Fatalf("token create printed hub URL %q, want %q", url, hubURL)
	}

	const n = 3
	cfgs := make([]string, n)
	agents := make([]*proc, n)
	for i := range n {
		cfgs[i] = AgentConfig(t, filepath.Join(root, fmt.Sprintf("agent%d", i)), hubURL)
		run(t, agentBin, "enroll", "--config", cfgs[i], "--hub", url, "--token", token, "--fingerprint", fp)
		agents[i] = start(t, fmt.Sprintf("agent%d", i), agentBin, "run", "--config", cfgs[i])
	}
	waitFor(t, 30*time.Second, "three terminals online", func() bool { return online(terminals(t, hubBin, data)) == n })
	ts := terminals(t, hubBin, data)
	for _, x := range ts {
		if x.ID == "" || x.OS == "" {
			t.Errorf("terminal row lacks id or os: %+v", x)
		}
	}

	// A fourth enrollment with the three-use token is refused.
	extra := AgentConfig(t, filepath.Join(root, "agent-extra"), hubURL)
	if out, err := runErr(agentBin, "enroll", "--config", extra, "--hub", url, "--token", token, "--fingerprint", fp); err == nil {
		t.Fatalf("a fourth enrollment with a 3-use token succeeded:\n%s", out)
	}

	// Hub down. Each agent restarts twice: two more agent.started events each, which
	// can only reach the hub through the outbox.
	hub.stop(t)
	waitFor(t, 10*time.Second, "terminals marked offline", func() bool { return online(terminals(t, hubBin, data)) == 0 })
	const restarts = 2
	for r := 0; r < restarts; r++ {
		for i := range n {
			agents[i].stop(t)
			agents[i] = start(t, fmt.Sprintf("agent%d-r%d", i, r), agentBin, "run", "--config", cfgs[i])
		}
	}

	serve()
	waitFor(t, 60*time.Second, "three terminals back online", func() bool { return online(terminals(t, hubBin, data)) == n })
	want := 1 + restarts
	dbPath := filepath.Join(data, "hub.db")
	waitFor(t, 30*time.Second, fmt.Sprintf("%d agent.started events per terminal", want), func() bool {
		per, _ := storedEvents(t, dbPath, "agent.started")
		if len(per) != n {
			return false
		}
		for _, c := range per {
			if c < want {
				return false
			}
		}
		return true
	})
	per, dupes := storedEvents(t, dbPath, "agent.started")
	if dupes != 0 {
		t.Errorf("%d events stored more than once", dupes)
	}
	for term, c := range per {
		if c != want {
			t.Errorf("terminal %s: %d agent.started events stored, want exactly %d", term, c, want)
		}
	}

	// A staff command reaches an agent and comes back.
	out := run(t, hubBin, "command", "--data", data, ts[0].ID, "ping")
	if !containsFold(out, "pong") {
		t.Errorf("ping answered %q, want pong", out)
	}
}
