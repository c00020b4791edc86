package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/hubrig"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

func status(name, mac, cidr string) protocol.Status {
	return protocol.Status{Hostname: name, OS: "linux", AgentVersion: "test", Session: protocol.SessionFree,
		NICs: []protocol.NIC{{MAC: mac, CIDR: cidr}}}
}

// Waking PCs over real agent links: an awake PC on each PC's subnet sends the
// packets; a relay that fails is passed over for the next; a subnet with no
// PC awake says so; a woken PC that never comes online is audited as not
// woken.
func TestWakeThroughARelay(t *testing.T) {
	r := hubrig.Start(t, hubrig.Options{Hub: func(c *hub.Config) { c.WakeCheck = 300 * time.Millisecond }})
	ctx := context.Background()
	sleepy := r.AddTerminal(t, "sleepy", status("sleepy", "52:54:00:00:00:01", "10.1.0.21/24"))
	alone := r.AddTerminal(t, "alone", status("alone", "52:54:00:00:00:02", "10.9.0.5/24"))
	broken := r.AddTerminal(t, "a-broken-relay", status("a-broken-relay", "52:54:00:00:00:03", "10.1.0.30/24"))
	relay := r.AddTerminal(t, "relay", status("relay", "52:54:00:00:00:04", "10.1.0.31/24"))
	other := r.AddTerminal(t, "other-subnet", status("other-subnet", "52:54:00:00:00:05", "10.2.0.9/24"))
	for _, x := range []*hubrig.Terminal{sleepy, alone, broken, relay, other} {
		x.Connect(t)
	}
	broken.Answer(func(a protocol.Action, _ map[string]string) (string, error) {
		return "", errors.New("no route to the broadcast address")
	})
	sleepy.Disconnect(t)
	alone.Disconnect(t)
	testbin.WaitFor(t, hubrig.Wait, "two PCs offline at the hub", func() bool {
		a, _ := r.Hub().Terminal(ctx, sleepy.ID)
		b, _ := r.Hub().Terminal(ctx, alone.ID)
		return !a.Online && !b.Online
	})

	res, err := r.Hub().Wake(ctx, []string{"sleepy", "alone", "relay"}, "staff:ann")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]protocol.WakeResult{
		"sleepy": {Subnet: "10.1.0.0/24", Relay: "relay", Outcome: protocol.WakeSent},
		"alone":  {Subnet: "10.9.0.0/24", Outcome: protocol.WakeNoRelay},
		"relay":  {Outcome: protocol.WakeAlreadyOn},
	}
	for _, got := range res {
		w := want[got.Name]
		if got.Subnet != w.Subnet || got.Relay != w.Relay || got.Outcome != w.Outcome {
			t.Errorf("%s: %+v, want %+v", got.Name, got, w)
		}
	}
	cmds := relay.Commands()
	if len(cmds) != 1 || cmds[0].Action != protocol.ActionWake || cmds[0].Args[protocol.ArgMACs] != "52:54:00:00:00:01" ||
		cmds[0].Args[protocol.ArgSubnet] != "10.1.0.0/24" {
		t.Fatalf("the relay was sent %+v", cmds)
	}
	if cmds := broken.Commands(); len(cmds) != 1 {
		t.Fatalf("the first relay (by name) was not tried first: %+v", cmds)
	}
	if cmds := other.Commands(); len(cmds) != 0 {
		t.Fatalf("a PC on another subnet was asked to relay: %+v", cmds)
	}
	// sleepy never comes back: the hub audits that it did not wake.
	testbin.WaitFor(t, hubrig.Wait, "power.no-wake audited", func() bool {
		rows, _ := r.Hub().Store().AuditLog(ctx, 0, 10000)
		for _, row := range rows {
			if row.Action == protocol.AuditPowerNoWake && row.Target == sleepy.ID && strings.Contains(row.Detail, "staff:ann") {
				return true
			}
		}
		return false
	})
	if _, err := r.Hub().Wake(ctx, nil, "staff:ann"); err == nil {
		t.Fatal("a wake of no PCs was accepted")
	}
	if _, err := r.Hub().Wake(ctx, []string{"nobody"}, "staff:ann"); err == nil {
		t.Fatal("a wake of an unknown PC was accepted")
	}
}
