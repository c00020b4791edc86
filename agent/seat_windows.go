package agent

import (
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/wipe"
)

// seatGate: on Windows the session controller cannot hold logons, so the seat
// holds them by disabling the patron accounts (wipe.NewPatronGate, never an
// administrator or built-in account); the flag lives in the SAM and survives a
// crash, like the Linux account expiry.
func seatGate(_ session.Controller, wcfg wipe.Config) wipe.LogonGate {
	return wipe.NewPatronGate(wcfg)
}
