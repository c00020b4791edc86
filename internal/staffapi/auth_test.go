package staffapi

import (
	"strings"
	"testing"
)

// cheapArgon keeps tests fast; TestPasswordHash checks the real parameters.
var cheapArgon = ArgonParams{Memory: 64, Time: 1, Threads: 1}

func TestPasswordHash(t *testing.T) {
	enc := hashPassword("s3cret password", DefaultArgon)
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoded hash %q does not carry OWASP parameters", enc)
	}
	for pw, want := range map[string]bool{"s3cret password": true, "s3cret passwore": false, "": false} {
		if ok, err := checkPassword(pw, enc); err != nil || ok != want {
			t.Errorf("check %q: %v %v, want %v", pw, ok, err, want)
		}
	}
	// A hash made with other parameters still verifies: they travel with it.
	if ok, err := checkPassword("x", hashPassword("x", cheapArgon)); !ok || err != nil {
		t.Fatalf("cheap hash: %v %v", ok, err)
	}
	if hashPassword("same", cheapArgon) == hashPassword("same", cheapArgon) {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "plaintext"} {
		if ok, err := checkPassword("x", bad); ok || err == nil {
			t.Errorf("hash %q accepted: %v %v", bad, ok, err)
		}
	}
}
