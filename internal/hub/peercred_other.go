//go:build !linux && !darwin

package hub

import (
	"errors"
	"net"
)

// ErrNotImplemented is returned where a platform lacks a facility.
var ErrNotImplemented = errors.New("hub: not implemented on this platform")

// peerUID is not implemented here (2026-11: Windows callers are logged as
// "local:unknown"; the socket still lives in the protected data dir).
func peerUID(*net.UnixConn) (int, error) { return 0, ErrNotImplemented }
