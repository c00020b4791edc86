package ui

import (
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// certWarnBefore is how long before its agent certificate expires a PC is
// flagged. An agent renews at two thirds of the 90-day life (30 days left),
// so a certificate this close to its end means the agent has not renewed it:
// the PC is off, or cannot reach the hub.
const certWarnBefore = 14 * 24 * time.Hour

// certExpiry is when t's agent certificate expires: the hub's record, else
// what the agent reported; zero when neither is known.
func certExpiry(t protocol.TerminalView) time.Time {
	if !t.CertExpires.IsZero() {
		return t.CertExpires
	}
	if t.Status != nil {
		return t.Status.CertExpires
	}
	return time.Time{}
}

// certWarning is what staff are told about t's certificate at now: a few
// words for the tile and a sentence for the detail, or two empty strings when
// it is not near its end (or the PC is revoked: nothing renews then).
func certWarning(t protocol.TerminalView, now time.Time) (short, long string) {
	end := certExpiry(t)
	if end.IsZero() || t.Revoked || end.Sub(now) > certWarnBefore {
		return "", ""
	}
	name := terminalLabel(t)
	if end.After(now) {
		return "cert " + shortDuration(end.Sub(now)),
			"The certificate of " + name + " ends " + timeText(end, now) + " and its agent has not renewed it (agents renew 30 days before the end). " +
				"If the PC is off, it renews by itself when it is back on; if it is on, check that it reaches the hub. " +
				"Once it has ended, the PC still renews by itself within the hub's renewal grace (180 days by default), after that it must be enrolled again."
	}
	return "cert ended",
		"The certificate of " + name + " ended " + timeText(end, now) + ". " +
			"The PC renews it by itself when it next reaches the hub, if that is within the hub's renewal grace (180 days after the end by default); " +
			"after that it must be enrolled again (Enrollment)."
}
