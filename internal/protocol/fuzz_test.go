package protocol

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseAuditHead: a head's text form comes from logs and people; whatever
// is given, ParseAuditHead answers a head or an error, and a head it answers
// prints back to text that parses to the same head.
func FuzzParseAuditHead(f *testing.F) {
	f.Add("ah1.12.0000000000000000000000000000000000000000000000000000000000000000.1800000000000.MEUCIQ")
	f.Add("ah1.-1.00.0.")
	f.Add("ah1...." + strings.Repeat("A", 600))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseAuditHead(s)
		if err != nil {
			return
		}
		back, err := ParseAuditHead(h.String())
		if err != nil || back.Seq != h.Seq || !bytes.Equal(back.Hash, h.Hash) || !back.Time.Equal(h.Time) || !bytes.Equal(back.Sig, h.Sig) {
			t.Fatalf("%q → %+v → %q → %+v %v", s, h, h.String(), back, err)
		}
		if len(FindAuditHeads("x "+h.String()+" y")) != 1 {
			t.Fatalf("FindAuditHeads misses %q", h.String())
		}
	})
}
