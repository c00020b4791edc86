// Package wol sends Wake-on-LAN magic packets for the hub: an awake PC (the
// relay) wakes the others on its subnet, since the broadcast does not cross a
// router and the hub is rarely on the PCs' subnet.
//
// A magic packet is 6 bytes of 0xFF followed by the target's MAC 16 times,
// sent as a UDP broadcast to port 9 (discard) and, for cards that listen
// there, port 7. It is sent to the subnet's directed broadcast address from
// this PC's own address in that subnet, so it leaves through the right
// interface. Each packet is sent three times: WOL has no answer, and a
// switch that just woke up may drop the first.
package wol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Packet is the magic packet for mac.
func Packet(mac net.HardwareAddr) ([]byte, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("wol: %q is not a 48-bit MAC", mac.String())
	}
	p := make([]byte, 0, 102)
	for i := 0; i < 6; i++ {
		p = append(p, 0xff)
	}
	for i := 0; i < 16; i++ {
		p = append(p, mac...)
	}
	return p, nil
}

// Broadcast is the directed broadcast address of an IPv4 subnet.
func Broadcast(subnet netip.Prefix) netip.Addr {
	a := subnet.Masked().Addr().As4()
	host := uint32(1)<<(32-subnet.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Ports the packets go to.
var Ports = []int{9, 7}

// Repeats is how often each packet is sent.
const Repeats = 3

// ErrNotOnSubnet says this PC has no address in the subnet asked for.
var ErrNotOnSubnet = errors.New("this PC has no address on that subnet")

// Sender sends magic packets; Local finds this PC's address in a subnet
// (nil: from its interfaces).
type Sender struct {
	Local func(subnet netip.Prefix) (netip.Addr, bool)
	// Target overrides the destination address (tests on a loopback).
	Target netip.Addr
}

// Wake sends the magic packets for macs into subnet and says what it sent.
func (s Sender) Wake(ctx context.Context, macs []string, subnet netip.Prefix) (string, error) {
	local := s.Local
	if local == nil {
		local = LocalAddr
	}
	src, ok := local(subnet)
	if !ok {
		return "", fmt.Errorf("%w (%s)", ErrNotOnSubnet, subnet)
	}
	dst := s.Target
	if !dst.IsValid() {
		dst = Broadcast(subnet)
	}
	conn, err := broadcastConn(src)
	if err != nil {
		return "", fmt.Errorf("wol: %w", err)
	}
	defer conn.Close()
	sent := 0
	for _, m := range macs {
		hw, err := net.ParseMAC(m)
		if err != nil {
			return "", fmt.Errorf("wol: %q: %w", m, err)
		}
		p, err := Packet(hw)
		if err != nil {
			return "", err
		}
		for r := 0; r < Repeats; r++ {
			for _, port := range Ports {
				if err := ctx.Err(); err != nil {
					return "", err
				}
				if _, err := conn.WriteToUDPAddrPort(p, netip.AddrPortFrom(dst, uint16(port))); err != nil {
					return "", fmt.Errorf("wol: send to %s:%d: %w", dst, port, err)
				}
			}
			if r < Repeats-1 { // spaced, not a burst
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		sent++
	}
	return fmt.Sprintf("sent Wake-on-LAN to %d PCs (%s) via %s from %s", sent, strings.Join(macs, ", "), dst, src), nil
}

// LocalAddr is this PC's IPv4 address in subnet, from its interfaces.
func LocalAddr(subnet netip.Prefix) (netip.Addr, bool) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP.To4())
		if ok && ipn.IP.To4() != nil && subnet.Contains(ip) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// Handler is the agent's ActionWake: it reads the MACs and the subnet and
// sends.
func (s Sender) Handler() protocol.CommandHandler {
	return func(ctx context.Context, args map[string]string) (string, error) {
		for k := range args {
			if k != protocol.ArgMACs && k != protocol.ArgSubnet {
				return "", fmt.Errorf("wake: unknown argument %q (this command takes only %s, %s)", protocol.Clip(k, 40), protocol.ArgMACs, protocol.ArgSubnet)
			}
		}
		macs, subnet, err := protocol.ParseWakeArgs(args)
		if err != nil {
			return "", fmt.Errorf("wake: %w", err)
		}
		return s.Wake(ctx, macs, subnet)
	}
}
