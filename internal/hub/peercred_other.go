//go:build !linux && !darwin

package hub

import (
	"errors"
	"fmt"
	"net"
)

// ErrNotImplemented is returned where a platform lacks a facility.
var ErrNotImplemented = fmt.Errorf("hub: not implemented on this platform: %w", errors.ErrUnsupported)

// peerUID is not implemented here (2026-11: Windows callers are logged as
// "local:unknown"; the socket still lives in the protected data dir).
func peerUID(*net.UnixConn) (int, error) { return 0, ErrNotImplemented }
