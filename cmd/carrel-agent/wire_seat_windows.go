package main

import (
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/wipe"
)

// seatController: on Windows the session controller cannot hold logons, so the
// seat holds them by disabling the patron accounts (wipe.NewPatronGate, never an
// administrator or built-in account); the flag lives in the SAM and survives a
// crash, like the Linux account expiry.
func seatController(c session.Controller, wcfg wipe.Config) session.Controller {
	return gatedController{Controller: c, gate: wipe.NewPatronGate(wcfg)}
}
