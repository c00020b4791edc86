package wol

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestPacket(t *testing.T) {
	mac, _ := net.ParseMAC("00:1a:2b:3c:4d:5e")
	p, err := Packet(mac)
	if err != nil || len(p) != 102 || !bytes.Equal(p[:6], bytes.Repeat([]byte{0xff}, 6)) {
		t.Fatalf("%x %v", p, err)
	}
	for i := 0; i < 16; i++ {
		if !bytes.Equal(p[6+6*i:12+6*i], mac) {
			t.Fatalf("repeat %d: %x", i, p[6+6*i:12+6*i])
		}
	}
	if _, err := Packet(net.HardwareAddr{1, 2, 3}); err == nil {
		t.Fatal("a 3-byte MAC made a packet")
	}
}

func TestBroadcast(t *testing.T) {
	for in, want := range map[string]string{"192.168.10.23/24": "192.168.10.255", "10.1.0.0/16": "10.1.255.255",
		"172.16.5.9/30": "172.16.5.11", "10.0.0.1/32": "10.0.0.1"} {
		if got := Broadcast(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("Broadcast(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestWakeArgs(t *testing.T) {
	h := Sender{Local: func(netip.Prefix) (netip.Addr, bool) { return netip.Addr{}, false }}.Handler()
	for _, c := range []struct {
		args map[string]string
		want string
	}{
		{map[string]string{protocol.ArgMACs: "00:1a:2b:3c:4d:5e"}, "not an IPv4 subnet"},
		{map[string]string{protocol.ArgMACs: "nope", protocol.ArgSubnet: "10.0.0.0/24"}, "not a 48-bit MAC"},
		{map[string]string{protocol.ArgMACs: "00:1a:2b:3c:4d:5e", protocol.ArgSubnet: "10.0.0.0/24", "x": "y"}, "unknown argument"},
		{map[string]string{protocol.ArgMACs: strings.Repeat("00:1a:2b:3c:4d:5e,", protocol.MaxWake) + "00:1a:2b:3c:4d:5e", protocol.ArgSubnet: "10.0.0.0/24"}, "more than"},
		{map[string]string{protocol.ArgMACs: "00:1a:2b:3c:4d:5e", protocol.ArgSubnet: "10.0.0.0/24"}, "no address on that subnet"},
	} {
		if _, err := h(context.Background(), c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// On loopback: the packets arrive, three of each to each port, with the MAC.
func TestWakeSendsPackets(t *testing.T) {
	got := make(chan []byte, 64)
	for _, port := range Ports {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Skipf("port %d: %v (the netns test covers this)", port, err)
		}
		defer c.Close()
		go func() {
			for {
				buf := make([]byte, 200)
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				got <- buf[:n]
			}
		}()
	}
	s := Sender{Local: func(netip.Prefix) (netip.Addr, bool) { return netip.MustParseAddr("127.0.0.1"), true },
		Target: netip.MustParseAddr("127.0.0.1")}
	out, err := s.Wake(context.Background(), []string{"00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5f"}, netip.MustParsePrefix("127.0.0.0/8"))
	if err != nil || !strings.Contains(out, "2 PCs") {
		t.Fatalf("%q %v", out, err)
	}
	count := map[string]int{}
	deadline := time.After(5 * time.Second)
	for n := 0; n < 2*Repeats*len(Ports); n++ {
		select {
		case p := <-got:
			count[net.HardwareAddr(p[6:12]).String()]++
		case <-deadline:
			t.Fatalf("only %d packets: %v", n, count)
		}
	}
	if count["00:1a:2b:3c:4d:5e"] != Repeats*len(Ports) || count["00:1a:2b:3c:4d:5f"] != Repeats*len(Ports) {
		t.Fatalf("packets per MAC: %v", count)
	}
}
