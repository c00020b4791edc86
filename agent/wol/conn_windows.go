//go:build windows

package wol

import (
	"context"
	"net"
	"net/netip"
	"syscall"
)

// broadcastConn is a UDP socket bound to src with SO_BROADCAST set.
func broadcastConn(src netip.Addr) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(src, 0).String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}
