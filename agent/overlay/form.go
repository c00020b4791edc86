package overlay

import (
	"fmt"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The sign-in form and the patron's strip, the same on every OS: what the
// fields hold, what a key does, and the words shown. The X11 and Win32 parts
// only draw it and feed it keys.

// Form fields, in Tab order.
const (
	fieldCard = iota
	fieldPIN
	fieldGuest
	nFields
)

// fieldMax bounds what each field takes (protocol.SignIn's limits).
var fieldMax = [nFields]int{protocol.MaxCard, protocol.MaxPIN, protocol.MaxGuestCode}

// signInForm is what the patron has typed. The PIN lives here only, until
// it is submitted (then zeroed); it is never drawn, logged or written
// anywhere but the one report line to the service.
type signInForm struct {
	fields [nFields][]byte
	focus  int
	form   uint64 // the PatronScreen.Form last seen
	active bool   // the form was on screen at the last sync
}

// sync follows the service's screen: a new attempt (Form changed) empties
// the PIN and the guest code, and a form that leaves the screen forgets
// everything.
func (f *signInForm) sync(p PatronScreen, lock bool) {
	on := lock && p.SignIn
	switch {
	case !on:
		if f.active {
			f.clear()
		}
	case p.Form != f.form:
		f.zero(fieldPIN)
		f.zero(fieldGuest)
		if p.Refusal == protocol.RefusePIN {
			f.focus = fieldPIN
		}
	}
	f.form, f.active = p.Form, on
}

func (f *signInForm) zero(i int) {
	clear(f.fields[i])
	f.fields[i] = f.fields[i][:0]
}

// clear forgets everything typed.
func (f *signInForm) clear() {
	for i := range f.fields {
		f.zero(i)
	}
	f.focus = fieldCard
}

// key applies one key: a printable ASCII character (r), or Tab, Backspace,
// Escape. It reports whether the form changed.
func (f *signInForm) key(r rune) bool {
	switch r {
	case '\t':
		f.focus = (f.focus + 1) % nFields
	case keyBackTab:
		f.focus = (f.focus + nFields - 1) % nFields
	case '\b':
		b := f.fields[f.focus]
		if len(b) == 0 {
			return false
		}
		b[len(b)-1] = 0
		f.fields[f.focus] = b[:len(b)-1]
	case keyEscape:
		f.clear()
	default:
		if r < 0x21 || r > 0x7e || len(f.fields[f.focus]) >= fieldMax[f.focus] {
			return false
		}
		if f.focus == fieldCard || f.focus == fieldPIN {
			f.zero(fieldGuest) // one or the other
		} else {
			f.zero(fieldCard)
			f.zero(fieldPIN)
		}
		f.fields[f.focus] = append(f.fields[f.focus], byte(r))
	}
	return true
}

// Keys that are not characters.
const (
	keyBackTab = -2
	keyEscape  = -3
)

// submit is Enter: the sign-in to report (copies of the fields), or false
// when there is nothing to send. The PIN and the guest code are zeroed.
func (f *signInForm) submit() (Report, bool) {
	r := Report{T: ReportSignIn}
	switch {
	case len(f.fields[fieldGuest]) > 0 && (f.focus == fieldGuest || len(f.fields[fieldCard]) == 0):
		r.Guest = Secret(append([]byte(nil), f.fields[fieldGuest]...))
	case len(f.fields[fieldCard]) > 0:
		r.Card = Secret(append([]byte(nil), f.fields[fieldCard]...))
		if len(f.fields[fieldPIN]) > 0 {
			r.PIN = Secret(append([]byte(nil), f.fields[fieldPIN]...))
		}
	default:
		return Report{}, false
	}
	f.zero(fieldPIN)
	f.zero(fieldGuest)
	return r, true
}

// shown is what field i shows: the PIN as one "*" per character.
func (f *signInForm) shown(i int) string {
	if i == fieldPIN {
		return strings.Repeat("*", len(f.fields[i]))
	}
	return string(f.fields[i])
}

// The patron's words.
const (
	signInTitle   = "Sign in to use this computer"
	signInHint    = "Tab moves to the next box. Enter signs in."
	checkingText  = "Checking..."
	privacyErase  = "When your session ends, everything you did here is erased: files, downloads, browsing."
	privacyRecord = "The library keeps no record of what you did on this computer."
	cleanText     = "The previous session was erased and checked at %s."
	endButton     = "End my session"
	confirmText   = "End your session now? Everything is erased."
	yesButton     = "Yes, end it"
	noButton      = "No, go back"
	warnTitle     = "Time warning"
	warnHint      = "Press Enter or click to close."
	endingText    = "Ending your session. Everything is being erased."
)

var fieldLabels = [nFields]string{"Library card number", "PIN", "Or a guest pass code"}

// cleanLine is the wipe's line for the form, "" when no clean wipe is known.
func cleanLine(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return fmt.Sprintf(cleanText, time.UnixMilli(ms).Format("15:04"))
}

// warnText is a time warning's words.
func warnText(minutes int) string {
	if minutes == 1 {
		return "Your session ends in 1 minute. Save your work."
	}
	return fmt.Sprintf("Your session ends in %d minutes. Save your work.", minutes)
}

// idleText is the idle warning's words.
func idleText(seconds int) string {
	return fmt.Sprintf("No input for a while: this session ends in %d s unless you move the mouse or press a key.", seconds)
}

// leftText is the strip's time left until endsAt (Unix ms).
func leftText(endsAt int64, now time.Time) string {
	d := max(time.UnixMilli(endsAt).Sub(now), 0)
	switch {
	case d >= time.Hour:
		m := int((d + time.Minute - 1) / time.Minute)
		return fmt.Sprintf("Time left: %d h %02d min", m/60, m%60)
	case d >= time.Minute:
		return fmt.Sprintf("Time left: %d min", int((d+time.Minute-1)/time.Minute))
	}
	return fmt.Sprintf("Time left: %d s", int((d+time.Second-1)/time.Second))
}

// formStatus is the form's status line: checking, or the refusal's words.
func formStatus(p PatronScreen) string {
	switch {
	case p.Busy:
		return checkingText
	case p.Refusal != "":
		return protocol.RefusalText(p.Refusal)
	}
	return ""
}

// stripText is what the patron's strip says (without its buttons).
func stripText(p PatronScreen, confirm bool, now time.Time) string {
	switch {
	case p.Ending:
		return endingText
	case confirm:
		return confirmText
	case p.IdleLeft > 0:
		return idleText(p.IdleLeft)
	}
	return leftText(p.EndsAt, now)
}
