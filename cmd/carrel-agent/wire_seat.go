package main

import (
	"context"
	"errors"

	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/wipe"
)

// gatedController holds patron logons through a wipe.LogonGate where the OS's
// session controller cannot (Windows: the account-disable gate); everything
// else is the OS's controller.
type gatedController struct {
	session.Controller
	gate wipe.LogonGate
}

// HoldLogons holds or releases every account, and reports every failure.
func (g gatedController) HoldLogons(ctx context.Context, accounts []string, hold bool) error {
	var errs []error
	for _, a := range accounts {
		if hold {
			errs = append(errs, g.gate.Hold(ctx, a))
		} else {
			errs = append(errs, g.gate.Release(ctx, a))
		}
	}
	return errors.Join(errs...)
}
