package overlay

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestDecodePatronReports(t *testing.T) {
	r, err := DecodeReport([]byte(`{"t":"signin","card":"21234000012345","pin":"4\"3\\1","countdown":-1}`))
	if err != nil || string(r.Card) != "21234000012345" || string(r.PIN) != `4"3\1` {
		t.Fatalf("DecodeReport = %+v, %v", r, err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", r.PIN, r, r.PIN, r.PIN); strings.Contains(s, "4") {
		t.Errorf("a Secret printed its value: %s", s)
	}
	if r, err := DecodeReport([]byte(`{"t":"signin","guest":"GUEST-1","countdown":-1}`)); err != nil || string(r.Guest) != "GUEST-1" {
		t.Errorf("guest: %+v, %v", r, err)
	}
	if r, err := DecodeReport([]byte(`{"t":"warn_ack","warn_id":4,"countdown":-1}`)); err != nil || r.WarnID != 4 {
		t.Errorf("warn_ack: %+v, %v", r, err)
	}
	for _, line := range []string{
		`{"t":"signin","countdown":-1}`,                                          // nothing typed
		`{"t":"signin","card":"1","guest":"2","countdown":-1}`,                   // both
		`{"t":"signin","guest":"2","pin":"3","countdown":-1}`,                    // a PIN with a guest code
		`{"t":"signin","card":"1 2","countdown":-1}`,                             // a space
		`{"t":"signin","card":"caf\u00e9","countdown":-1}`,                       // not ASCII
		`{"t":"signin","card":"a\nb","countdown":-1}`,                            // an escape other than \" and \\
		`{"t":"signin","card":"` + strings.Repeat("1", 33) + `","countdown":-1}`, // too long
		`{"t":"alive","pin":"1234","countdown":-1}`,                              // a PIN in a heartbeat
		`{"t":"signin","card":12,"countdown":-1}`,
		`{"t":"alive","idle":-1,"countdown":-1}`,
	} {
		if r, err := DecodeReport([]byte(line)); err == nil {
			t.Errorf("DecodeReport(%s) = %+v, want an error", line, r)
		}
	}
}

func TestDecodePatronCommands(t *testing.T) {
	ok := `{"lock":true,"patron":{"signin":true,"refusal":"fines","form":2,"clean_at":1799999000000}}`
	c, err := DecodeCommand([]byte(ok), now)
	if err != nil || !c.Patron.SignIn || c.Patron.Refusal != protocol.RefuseFines {
		t.Fatalf("DecodeCommand = %+v, %v", c, err)
	}
	strip := `{"patron":{"ends_at":1800003600000,"warn_id":1,"warn":5}}`
	if c, err := DecodeCommand([]byte(strip), now); err != nil || c.Empty() {
		t.Fatalf("strip: %+v, %v", c, err)
	}
	for _, line := range []string{
		`{"patron":{"signin":true}}`,                      // the form without the lock
		`{"lock":true,"patron":{"refusal":"rude words"}}`, // not a refusal
		`{"patron":{"ends_at":1900000000000}}`,            // further than a day
		`{"patron":{"ends_at":1800003600000,"warn":5}}`,   // a warning without an id
		`{"lock":true,"patron":{"signin":true,"ends_at":1800003600000}}`,
		`{"patron":{"ends_at":1800003600000,"idle_left":-4}}`,
	} {
		if c, err := DecodeCommand([]byte(line), now); err == nil {
			t.Errorf("DecodeCommand(%s) = %+v, want an error", line, c)
		}
	}
}

func TestSignInForm(t *testing.T) {
	var f signInForm
	on := PatronScreen{SignIn: true, Form: 1}
	f.sync(on, true)
	typeAll := func(s string) {
		for _, r := range s {
			f.key(r)
		}
	}
	typeAll("2123 4\x01") // a space and a control character are not typed
	if got := f.shown(fieldCard); got != "21234" {
		t.Fatalf("card %q", got)
	}
	f.key('\t')
	typeAll("99")
	f.key('\b')
	typeAll("81")
	if got, pin := f.shown(fieldPIN), string(f.fields[fieldPIN]); got != "***" || pin != "981" {
		t.Fatalf("PIN shown %q, held %q", got, pin)
	}
	held := f.fields[fieldPIN][:3]
	r, ok := f.submit()
	if !ok || string(r.Card) != "21234" || string(r.PIN) != "981" || len(r.Guest) != 0 {
		t.Fatalf("submit = %+v, %v", r, ok)
	}
	if !bytes.Equal(held, []byte{0, 0, 0}) || len(f.fields[fieldPIN]) != 0 {
		t.Errorf("the PIN's bytes after submit: %q", held)
	}
	// The guest code replaces the card: one or the other.
	f.key(keyBackTab)
	f.key(keyBackTab) // card → guest (backwards)
	if f.focus != fieldGuest {
		t.Fatalf("focus %d after two Shift+Tabs from the PIN", f.focus)
	}
	typeAll("GUEST-1")
	if f.shown(fieldCard) != "" {
		t.Error("the card stayed with a guest code")
	}
	r, ok = f.submit()
	if !ok || string(r.Guest) != "GUEST-1" || len(r.Card) != 0 {
		t.Fatalf("guest submit = %+v", r)
	}
	if _, ok := f.submit(); ok {
		t.Error("an empty form was submitted")
	}
	// Bounded fields.
	typeAll(strings.Repeat("G", 40))
	if len(f.fields[fieldGuest]) != protocol.MaxGuestCode {
		t.Errorf("guest field holds %d bytes", len(f.fields[fieldGuest]))
	}
	// A refused PIN: the next attempt starts at the PIN, with the card kept.
	f.key(keyEscape)
	typeAll("555")
	f.key('\t')
	typeAll("1")
	f.sync(PatronScreen{SignIn: true, Form: 2, Refusal: protocol.RefusePIN}, true)
	if f.shown(fieldCard) != "555" || len(f.fields[fieldPIN]) != 0 || f.focus != fieldPIN {
		t.Errorf("after a refused PIN: card %q pin %d focus %d", f.shown(fieldCard), len(f.fields[fieldPIN]), f.focus)
	}
	// The form leaves the screen: everything is forgotten.
	f.sync(PatronScreen{EndsAt: 1}, false)
	if f.shown(fieldCard) != "" {
		t.Error("the card stayed after the form went")
	}
}

func TestPatronTexts(t *testing.T) {
	n := time.Date(2026, 12, 7, 14, 0, 0, 0, time.Local)
	for _, c := range []struct {
		left time.Duration
		want string
	}{{65 * time.Minute, "Time left: 1 h 05 min"}, {42*time.Minute - time.Second, "Time left: 42 min"}, {59 * time.Second, "Time left: 59 s"}, {-time.Second, "Time left: 0 s"}} {
		if got := leftText(n.Add(c.left).UnixMilli(), n); got != c.want {
			t.Errorf("leftText(%s) = %q, want %q", c.left, got, c.want)
		}
	}
	if got := cleanLine(time.Date(2026, 12, 7, 14, 2, 0, 0, time.Local).UnixMilli()); got != "The previous session was erased and checked at 14:02." {
		t.Errorf("cleanLine = %q", got)
	}
	if cleanLine(0) != "" {
		t.Error("a wipe line without a verified wipe")
	}
	if got := formStatus(PatronScreen{Refusal: protocol.RefuseNoTime}); got != protocol.RefusalText(protocol.RefuseNoTime) {
		t.Errorf("formStatus = %q", got)
	}
}

// FuzzHelperReport feeds the service's report decoder arbitrary lines (what a
// helper, run as the patron, writes): it must never panic, never accept a
// sign-in field outside a sign-in or over its limit, and never accept a
// secret that is not printable ASCII.
func FuzzHelperReport(f *testing.F) {
	for _, s := range []string{
		`{"t":"alive","seq":2,"lock":true,"grabbed":true,"countdown":-1,"windows":1,"idle":30}`,
		`{"t":"signin","card":"21234000012345","pin":"4321","countdown":-1}`,
		`{"t":"signin","guest":"GUEST-7H3K","countdown":-1}`,
		`{"t":"signin","card":"a\"b\\c","countdown":-1}`,
		`{"t":"warn_ack","warn_id":3,"countdown":-1}`,
		`{"t":"end_session","countdown":-1}`,
		`{"t":"signin","card":"\u0041","countdown":-1}`,
		`{"t":"alive","pin":"1","countdown":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReport(b)
		if err != nil {
			return
		}
		secrets := [][]byte{r.Card, r.PIN, r.Guest}
		if r.T != ReportSignIn {
			for _, s := range secrets {
				if len(s) != 0 {
					t.Fatalf("%s carries a secret", r.T)
				}
			}
			return
		}
		if len(r.Card) > protocol.MaxCard || len(r.PIN) > protocol.MaxPIN || len(r.Guest) > protocol.MaxGuestCode {
			t.Fatal("secret over its limit")
		}
		for _, s := range secrets {
			for _, c := range s {
				if c < 0x21 || c > 0x7e {
					t.Fatalf("secret byte %#x", c)
				}
			}
		}
		// It passes the contract's own check as a SignIn.
		in := protocol.SignIn{ID: "s-1", Card: string(r.Card), PIN: string(r.PIN), Guest: string(r.Guest)}
		if err := in.Validate(); err != nil {
			t.Fatalf("accepted a sign-in the contract refuses: %v", err)
		}
		// And round-trips.
		back, err := DecodeReport(bytes.TrimSuffix(encodeLine(r), []byte("\n")))
		if err != nil || !bytes.Equal(back.Card, r.Card) || !bytes.Equal(back.PIN, r.PIN) || !bytes.Equal(back.Guest, r.Guest) {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	})
}
