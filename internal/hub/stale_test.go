package hub

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// A Hello from an older connection of the same agent, registered late (as
// happens when registrations queue behind a slow store in a reconnect storm),
// must neither replace the live connection nor be taken for an outbox reset:
// that would open a new epoch and store re-sent events twice.
func TestStaleHelloRefused(t *testing.T) {
	th := startHub(t, nil)
	c := th.mustEnroll(t, "pc-stale")
	a, _ := th.connect(t, c, 1, nil)
	for seq := uint64(1); seq <= 2; seq++ {
		a.send(&protocol.Event{Seq: seq, Time: time.Now().UTC(), Kind: "k", Severity: protocol.SeverityInfo})
	}
	a.waitAck(2)

	th.mu.Lock()
	live := th.conns[c.id]
	th.mu.Unlock()
	if live == nil {
		t.Fatal("live connection not registered")
	}
	stale := &agentConn{Peer: wsserve.NewPeer(nil, 4, nil), ctx: context.Background(), h: th.Hub, id: c.id,
		gen: live.gen - 1, helloAt: time.Now()}
	if th.register(stale, &protocol.Hello{TerminalID: c.id, Status: status("pc-stale"), NextSeq: 1}) {
		t.Fatal("a stale, older connection was registered")
	}
	select {
	case <-stale.Done():
	default:
		t.Error("the stale connection was not closed")
	}
	th.mu.Lock()
	still := th.conns[c.id] == live
	th.mu.Unlock()
	if !still {
		t.Error("the stale connection replaced the live one")
	}
	if strings.Contains(th.log.String(), "new epoch") {
		t.Error("the stale Hello opened a new epoch")
	}

	// A Hello that waited past WelcomeWithin (its agent has given up) is refused the same way.
	late := &agentConn{Peer: wsserve.NewPeer(nil, 4, nil), ctx: context.Background(), h: th.Hub, id: c.id,
		gen: th.connGen.Add(1), helloAt: time.Now().Add(-th.cfg.WelcomeWithin - time.Second)}
	if th.register(late, &protocol.Hello{TerminalID: c.id, Status: status("pc-stale"), NextSeq: 3}) {
		t.Fatal("a Hello older than the handshake timeout was registered")
	}

	// The live agent keeps working: its next event is stored and acked.
	a.send(&protocol.Event{Seq: 3, Time: time.Now().UTC(), Kind: "k", Severity: protocol.SeverityInfo})
	a.waitAck(3)
}
