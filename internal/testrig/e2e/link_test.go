package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// storedEvents counts, per terminal, events of kind the hub stored, and
// reports any (terminal, seq) stored more than once. The hub's key is (terminal,
// epoch, seq), so an exact duplicate cannot exist; what this catches is an event
// the hub stored again under a new epoch because it wrongly took a reconnect for
// an outbox reset.
func storedEvents(t *testing.T, hub *testbin.Hub, kind string) (perTerminal map[string]int, dupes int) {
	t.Helper()
	type key struct {
		terminal string
		seq      int64
	}
	perTerminal = map[string]int{}
	stored := map[key]int{}
	for _, e := range hub.Events(t, "", "") {
		if e.Kind == kind {
			perTerminal[e.Terminal]++
		}
		stored[key{e.Terminal, e.Seq}]++
	}
	for _, n := range stored {
		if n > 1 {
			dupes++
		}
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
	hub := testbin.StartHub(t, hubBin)
	hubURL := hub.URL()

	tok := hub.Token(t, 3)
	if tok.HubURL != hubURL {
		t.Fatalf("token create printed hub URL %q, want %q", tok.HubURL, hubURL)
	}
	enroll := func(cfg string) []string {
		return []string{"enroll", "--config", cfg, "--hub", tok.HubURL, "--token", tok.Token, "--fingerprint", tok.Fingerprint}
	}

	const n = 3
	cfgs := make([]string, n)
	agents := make([]*testbin.Proc, n)
	for i := range n {
		cfgs[i] = AgentConfig(t, filepath.Join(root, fmt.Sprintf("agent%d", i)), hubURL)
		testbin.Run(t, agentBin, enroll(cfgs[i])...)
		agents[i] = testbin.Start(t, fmt.Sprintf("agent%d", i), nil, agentBin, "run", "--config", cfgs[i])
	}
	testbin.WaitFor(t, 30*time.Second, "three terminals online", func() bool { return len(hub.Online(t)) == n })
	ts := hub.Terminals(t)
	for _, x := range ts {
		if x.ID == "" || x.OS == "" {
			t.Errorf("terminal row lacks id or os: %+v", x)
		}
	}

	// A fourth enrollment with the three-use token is refused.
	extra := AgentConfig(t, filepath.Join(root, "agent-extra"), hubURL)
	if out, errOut, err := testbin.Exec(agentBin, enroll(extra)...); err == nil {
		t.Fatalf("a fourth enrollment with a 3-use token succeeded:\n%s%s", out, errOut)
	}

	// Hub down. Each agent restarts twice: two more agent.started events each, which
	// can only reach the hub through the outbox.
	hub.Stop(t)
	testbin.WaitFor(t, 10*time.Second, "terminals marked offline", func() bool { return len(hub.Online(t)) == 0 })
	const restarts = 2
	for r := 0; r < restarts; r++ {
		for i := range n {
			agents[i].Stop(t)
			agents[i] = testbin.Start(t, fmt.Sprintf("agent%d-r%d", i, r), nil, agentBin, "run", "--config", cfgs[i])
		}
	}

	hub.Restart(t)
	testbin.WaitFor(t, 60*time.Second, "three terminals back online", func() bool { return len(hub.Online(t)) == n })
	want := 1 + restarts
	testbin.WaitFor(t, 30*time.Second, fmt.Sprintf("%d agent.started events per terminal", want), func() bool {
		per, _ := storedEvents(t, hub, "agent.started")
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
	per, dupes := storedEvents(t, hub, "agent.started")
	if dupes != 0 {
		t.Errorf("%d events stored more than once", dupes)
	}
	for term, c := range per {
		if c != want {
			t.Errorf("terminal %s: %d agent.started events stored, want exactly %d", term, c, want)
		}
	}

	// A staff command reaches an agent and comes back.
	out := testbin.Run(t, hubBin, "command", "--data", hub.Data, ts[0].ID, "ping")
	if !strings.Contains(strings.ToLower(out), "pong") {
		t.Errorf("ping answered %q, want pong", out)
	}
}
