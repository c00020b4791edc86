//go:build !windows

package agent

import (
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/wipe"
)

// seatGate: on Linux and macOS the session controller holds logons itself
// (account expiry through usermod, pwpolicy); root is never touched.
func seatGate(c session.Controller, _ wipe.Config) wipe.LogonGate { return controllerGate{c} }
