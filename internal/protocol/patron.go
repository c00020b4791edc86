package protocol

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// The patron's session over the agent link (DESIGN.md, "The patron's session").
//
// A free PC's lock screen takes a library card and PIN, or a guest pass code. The
// agent sends them to the hub in a SignIn; the hub, which alone speaks SIP2 to the
// library's ILS, answers with a SignInAnswer: a Grant (the PC unlocks for it) or a
// Refusal (the screen says why, in RefusalText's words). While the session runs
// the hub may send a new Grant for it (TypeGrant: staff added or removed time,
// closing moved); the agent ends the session at the grant's end, counted on its
// monotonic clock from when the grant arrived, and reports the end as
// EventSessionEnded with DataGrant and DataEndReason.
//
// The PIN travels once, in memory, over the mutual-TLS link; neither side logs
// it, stores it or puts it in an event. The card number reaches the hub only;
// the hub keeps a keyed pseudonym of it (Grant.Patron), never the number.

const (
	TypeSignIn       Type = "signin"        // agent → hub: a patron's card + PIN, or a guest code
	TypeSignInAnswer Type = "signin-answer" // hub → agent: a Grant or a Refusal
	TypeGrant        Type = "grant"         // hub → agent: a changed grant for the running session
)

// Sizes of what a patron types.
const (
	MaxCard      = 32 // card numbers (barcodes) are 14 digits in most ILSs; some have letters
	MaxPIN       = 32
	MaxGuestCode = 32
	MaxWarnings  = 8
)

// SignIn is a patron's attempt at a free PC's lock screen. ID is the agent's, to
// match the answer. Either Card (with PIN, which some libraries do not use) or
// Guest is set, not both.
type SignIn struct {
	ID    string `json:"id"`
	Card  string `json:"card,omitempty"`
	PIN   string `json:"pin,omitempty"`
	Guest string `json:"guest,omitempty"`
}

func (*SignIn) MsgType() Type { return TypeSignIn }

// String never shows the card or the PIN, so that a SignIn logged by mistake
// leaks nothing.
func (s *SignIn) String() string {
	if s.Guest != "" {
		return "signin " + s.ID + " (guest pass)"
	}
	return "signin " + s.ID + " (card)"
}

func (s *SignIn) Validate() error {
	if err := short(TypeSignIn, "id", s.ID, true); err != nil {
		return err
	}
	switch {
	case s.Card == "" && s.Guest == "":
		return &FieldError{TypeSignIn, "card", "is missing (a card or a guest code is needed)"}
	case s.Card != "" && s.Guest != "":
		return &FieldError{TypeSignIn, "guest", "is set with a card (one or the other)"}
	case s.Guest != "" && s.PIN != "":
		return &FieldError{TypeSignIn, "pin", "is set with a guest code"}
	}
	// Not checkPlain's message: the value is never quoted in an error.
	for _, f := range []struct {
		name, v string
		max     int
	}{{"card", s.Card, MaxCard}, {"pin", s.PIN, MaxPIN}, {"guest", s.Guest, MaxGuestCode}} {
		if len(f.v) > f.max {
			return &FieldError{TypeSignIn, f.name, fmt.Sprintf("is longer than %d bytes", f.max)}
		}
		for _, r := range f.v {
			if r < 0x21 || r > 0x7e {
				return &FieldError{TypeSignIn, f.name, "has a character other than printable ASCII"}
			}
		}
	}
	return nil
}

// Refusal says why a sign-in was refused. RefusalText gives the words a patron
// sees; they name the cause and nothing more (no balance, no name).
type Refusal string

const (
	RefusePIN          Refusal = "pin"            // the PIN does not match the card
	RefuseCardUnknown  Refusal = "card-unknown"   // the ILS does not know the card
	RefuseBlocked      Refusal = "blocked"        // card blocked, expired or otherwise not in good standing
	RefuseFines        Refusal = "fines"          // fines over the library's limit
	RefuseNoTime       Refusal = "no-time"        // today's allowance is used up
	RefuseClosed       Refusal = "closed"         // the library is closed, or closes too soon to start
	RefuseTooManyTries Refusal = "too-many-tries" // wrong PINs on this card; it is held for a while
	RefuseILSDown      Refusal = "ils-down"       // the library's catalogue did not answer in time
	RefuseGuestUnknown Refusal = "guest-unknown"  // no such guest pass
	RefuseGuestExpired Refusal = "guest-expired"  // the pass's day or minutes are over
	RefuseInUse        Refusal = "in-use"         // the card is signed in at another PC now
	RefuseNotFree      Refusal = "not-free"       // this PC is not free (staff locked it, or it is being cleaned)
	RefuseHubDown      Refusal = "hub-down"       // the agent's own: no link to the hub
	RefuseError        Refusal = "error"          // anything else; staff can read the hub's log
)

// Refusals lists every refusal in a stable order (reports count by them).
var Refusals = []Refusal{RefusePIN, RefuseCardUnknown, RefuseBlocked, RefuseFines, RefuseNoTime,
	RefuseClosed, RefuseTooManyTries, RefuseILSDown, RefuseGuestUnknown, RefuseGuestExpired, RefuseInUse,
	RefuseNotFree, RefuseHubDown, RefuseError}

// Known reports whether r is in Refusals.
func (r Refusal) Known() bool {
	for _, k := range Refusals {
		if r == k {
			return true
		}
	}
	return false
}

// RefusalText is what the sign-in screen says for a refusal.
func RefusalText(r Refusal) string {
	switch r {
	case RefusePIN:
		return "The PIN does not match this card. Please try again."
	case RefuseCardUnknown:
		return "This card number is not known. Please check it, or ask at the desk."
	case RefuseBlocked:
		return "This card cannot be used for the computers right now. Please ask at the desk."
	case RefuseFines:
		return "This card has charges to settle before it can be used. Please ask at the desk."
	case RefuseNoTime:
		return "This card has no computer time left today."
	case RefuseClosed:
		return "The library is closed, or closes too soon to start a session."
	case RefuseTooManyTries:
		return "Too many wrong PINs for this card. Please wait, or ask at the desk."
	case RefuseILSDown:
		return "Card sign-in is unavailable right now. Please ask staff for a guest pass."
	case RefuseGuestUnknown:
		return "This guest pass code is not known. Please check it."
	case RefuseGuestExpired:
		return "This guest pass has expired."
	case RefuseInUse:
		return "This card is signed in at another computer."
	case RefuseNotFree:
		return "This computer is not available right now."
	case RefuseHubDown:
		return "Sign-in is unavailable right now. Please ask at the desk."
	}
	return "Sign-in did not work. Please ask at the desk."
}

// PatronKind says how a session was signed in.
type PatronKind string

const (
	PatronCard  PatronKind = "card"
	PatronGuest PatronKind = "guest"
)

// Grant is the hub's permission for one patron session on one PC, signed by the
// hub (SignGrant) so that an agent restarted during a session can check the
// grant it saved. Seconds is the session's length from Issued: the agent counts
// it on its monotonic clock from the grant's arrival, so a wall-clock change adds
// no time; Ends is the same instant on the hub's clock, for display.
type Grant struct {
	ID       string     `json:"id"` // the session's ID on the hub ("g-...")
	Terminal string     `json:"terminal"`
	Kind     PatronKind `json:"kind"`
	// Patron is what staff and events are shown: a short pseudonym of the card
	// (keyed, rotated daily) or "guest". Never the card number.
	Patron  string    `json:"patron"`
	Issued  time.Time `json:"issued"`
	Ends    time.Time `json:"ends"`
	Seconds int64     `json:"seconds"`
	// EndsBy says what set the end: "session" (the session length), "allowance"
	// (today's time left), "closing", "guest" (the pass), "staff".
	EndsBy string `json:"ends_by"`
	// Warnings are minutes before the end at which the patron is warned (and
	// acknowledges); they never end a session themselves.
	Warnings []int `json:"warnings,omitempty"`
	// IdleEnd ends the session after this many seconds without input, 0 for
	// never; IdleWarn seconds before that, the patron is warned.
	IdleEnd  int64 `json:"idle_end,omitempty"`
	IdleWarn int64 `json:"idle_warn,omitempty"`
	// Sig is the hub's Ed25519 signature over the grant with Sig empty
	// (base64); the public key is Welcome.GrantKey.
	Sig string `json:"sig"`
}

func (g *Grant) validate(t Type, prefix string) error {
	for _, f := range []struct{ name, v string }{{"id", g.ID}, {"terminal", g.Terminal}, {"patron", g.Patron}, {"ends_by", g.EndsBy}} {
		if err := short(t, prefix+f.name, f.v, true); err != nil {
			return err
		}
	}
	if g.Kind != PatronCard && g.Kind != PatronGuest {
		return &FieldError{t, prefix + "kind", fmt.Sprintf("has unknown value %q", Clip(string(g.Kind), 20))}
	}
	if g.Issued.IsZero() || g.Ends.IsZero() {
		return &FieldError{t, prefix + "ends", "is missing"}
	}
	if g.Seconds < 0 || g.Seconds > 24*3600 {
		return &FieldError{t, prefix + "seconds", "is out of range (0 to a day)"}
	}
	if len(g.Warnings) > MaxWarnings {
		return &FieldError{t, prefix + "warnings", fmt.Sprintf("has more than %d entries", MaxWarnings)}
	}
	for _, w := range g.Warnings {
		if w < 1 || w > 24*60 {
			return &FieldError{t, prefix + "warnings", "has a value out of range"}
		}
	}
	if g.IdleEnd < 0 || g.IdleWarn < 0 || g.IdleWarn > g.IdleEnd {
		return &FieldError{t, prefix + "idle_warn", "is out of range"}
	}
	return text(t, prefix+"sig", g.Sig, 128)
}

// grantSigned is the signed text of a grant: its JSON with Sig empty.
func grantSigned(g Grant) []byte {
	g.Sig = ""
	b, _ := json.Marshal(g) // a struct of plain fields: Marshal cannot fail
	return append([]byte("carrel grant v1\n"), b...)
}

// SignGrant sets g.Sig with the hub's grant key.
func SignGrant(g *Grant, key ed25519.PrivateKey) {
	g.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, grantSigned(*g)))
}

// VerifyGrant checks g.Sig against the hub's grant key.
func VerifyGrant(g Grant, pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(g.Sig)
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, grantSigned(g), sig) {
		return fmt.Errorf("grant %s: the hub's signature does not match", Printable(g.ID))
	}
	return nil
}

// SignInAnswer answers a SignIn with the same ID: a Grant, or a Refusal.
type SignInAnswer struct {
	ID      string  `json:"id"`
	Grant   *Grant  `json:"grant,omitempty"`
	Refusal Refusal `json:"refusal,omitempty"`
	// LastWipe is when the previous session on this PC was verified clean, as
	// the hub knows it (zero if unknown). The hub leaves it zero and the agent
	// does not read it: the answer comes after the form it would be shown on,
	// so the form's "erased and checked at" line comes from the agent's own
	// wipe result (cleared by a dirty wipe). Kept for wire compatibility.
	LastWipe time.Time `json:"last_wipe,omitzero"`
}

func (*SignInAnswer) MsgType() Type { return TypeSignInAnswer }

func (a *SignInAnswer) Validate() error {
	if err := short(TypeSignInAnswer, "id", a.ID, true); err != nil {
		return err
	}
	switch {
	case a.Grant == nil && a.Refusal == "":
		return &FieldError{TypeSignInAnswer, "refusal", "is missing (an answer is a grant or a refusal)"}
	case a.Grant != nil && a.Refusal != "":
		return &FieldError{TypeSignInAnswer, "refusal", "is set with a grant"}
	case a.Refusal != "" && !a.Refusal.Known():
		return &FieldError{TypeSignInAnswer, "refusal", fmt.Sprintf("has unknown value %q", Clip(string(a.Refusal), 30))}
	case a.Grant != nil:
		return a.Grant.validate(TypeSignInAnswer, "grant.")
	}
	return nil
}

// GrantUpdate replaces the grant of the running session with the same Grant.ID
// (staff added or removed time, closing moved). An agent whose session is not
// that one ignores it.
type GrantUpdate struct {
	Grant Grant `json:"grant"`
}

func (*GrantUpdate) MsgType() Type { return TypeGrant }

func (u *GrantUpdate) Validate() error { return u.Grant.validate(TypeGrant, "grant.") }

// PatronView is what a status says about the patron session on the PC, for the
// console's tile: which grant, how it was signed in, and when it ends on the
// agent's reckoning. Nothing that names the patron beyond Grant.Patron.
type PatronView struct {
	Grant  string     `json:"grant"`
	Kind   PatronKind `json:"kind"`
	Patron string     `json:"patron"`
	Ends   time.Time  `json:"ends"`
}

func (p *PatronView) validate(t Type, prefix string) error {
	for _, f := range []struct{ name, v string }{{"grant", p.Grant}, {"patron", p.Patron}} {
		if err := short(t, prefix+f.name, f.v, true); err != nil {
			return err
		}
	}
	if p.Kind != PatronCard && p.Kind != PatronGuest {
		return &FieldError{t, prefix + "kind", fmt.Sprintf("has unknown value %q", Clip(string(p.Kind), 20))}
	}
	return nil
}

// Why a patron session ended (EventSessionEnded's DataEndReason).
const (
	EndTimeUp  = "time-up" // the grant's end
	EndPatron  = "patron"  // "End my session"
	EndStaff   = "staff"   // end-session from a console
	EndIdle    = "idle"    // no input for the grant's IdleEnd
	EndClosing = "closing" // the library closed
	EndLogoff  = "logoff"  // the patron logged off the OS session by other means
	EndOffline = "offline" // an offline session's minutes ran out
	EndRestart = "restart" // the PC restarted during the session
)

// Data keys of the patron session's events (session.started, session.ended,
// session.warned).
const (
	DataGrant     = "grant"      // the Grant.ID
	DataPatron    = "patron"     // Grant.Patron: a pseudonym or "guest"
	DataKind      = "kind"       // PatronCard or PatronGuest
	DataEndReason = "end_reason" // one of the End* words
	DataUsed      = "used"       // whole seconds the session ran
	DataMinutes   = "minutes"    // a warning's minutes left
)
