package protocol

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignInValidation(t *testing.T) {
	for _, c := range []struct {
		in    SignIn
		field string
	}{
		{SignIn{ID: "r1", Card: "21234000012345", PIN: "1234"}, ""},
		{SignIn{ID: "r1", Guest: "K7QF-2M9D"}, ""},
		{SignIn{ID: "r1"}, "card"},
		{SignIn{ID: "r1", Card: "1", Guest: "g"}, "guest"},
		{SignIn{ID: "r1", Guest: "g", PIN: "1"}, "pin"},
		{SignIn{ID: "r1", Card: strings.Repeat("1", MaxCard+1)}, "card"},
		{SignIn{ID: "r1", Card: "123 45"}, "card"},
		{SignIn{ID: "r1", Card: "1", PIN: "12\n"}, "pin"},
		{SignIn{Card: "1"}, "id"},
	} {
		err := c.in.Validate()
		var fe *FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%+v: %v", c.in, err)
		case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field):
			t.Errorf("%+v: want an error on %s, got %v", c.in, c.field, err)
		case err != nil && (strings.Contains(err.Error(), "12\n") || strings.Contains(err.Error(), "123 45")):
			t.Errorf("the error quotes what the patron typed: %v", err)
		}
	}
	s := &SignIn{ID: "r1", Card: "21234000012345", PIN: "9876"}
	if str := s.String(); strings.Contains(str, "2123") || strings.Contains(str, "9876") {
		t.Fatalf("String shows the card or PIN: %s", str)
	}
}

func TestGrantSignature(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	now := time.Now().UTC().Truncate(time.Second)
	g := Grant{ID: "g-1", Terminal: "t-1", Kind: PatronCard, Patron: "p-3f2a", Issued: now, Ends: now.Add(time.Hour),
		Seconds: 3600, EndsBy: "session", Warnings: []int{10, 5, 1}}
	SignGrant(&g, key)
	if err := VerifyGrant(g, pub); err != nil {
		t.Fatal(err)
	}
	longer := g
	longer.Seconds = 7200
	if VerifyGrant(longer, pub) == nil {
		t.Fatal("a grant with more time kept its signature")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if VerifyGrant(g, other) == nil {
		t.Fatal("another hub's key verified the grant")
	}
	frame, err := Encode(&SignInAnswer{ID: "r1", Grant: &g})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	back := m.(*SignInAnswer).Grant
	if err := VerifyGrant(*back, pub); err != nil {
		t.Fatalf("the grant's signature did not survive the wire: %v", err)
	}
	if _, err := Encode(&SignInAnswer{ID: "r1", Refusal: "nope"}); err == nil {
		t.Fatal("an unknown refusal was encoded")
	}
	if _, err := Encode(&SignInAnswer{ID: "r1"}); err == nil {
		t.Fatal("an answer with neither grant nor refusal was encoded")
	}
	for _, r := range Refusals {
		if RefusalText(r) == "" || strings.Contains(RefusalText(r), "%") {
			t.Errorf("refusal %s has no words", r)
		}
	}
}
