package sip2

import (
	"bytes"
	"strings"
	"testing"
)

// realReplies look like what ILSes send: logins, an ACS status, patron
// status and information replies for a good card, an unknown one, a
// blocked one with a Latin-1 name, vendor fields and no checksum.
func realReplies() []string {
	sum := func(s string) string { return s + Checksum([]byte(s)) + "\r" }
	counts := "0002" + "0001" + "0003" + "0000" + "0000" + "0001"
	return []string{
		sum("941AY0AZ"),
		sum("940AY0AZ"),
		"941\r\n",
		sum("98YYYYNN30000320261207    1015002.00AOlib|AMCarrel Public Library|BNYYYYYYYYYYYYYYYY|BXYYYYYYYYYYYYYYYY|ANbranch1|AFwelcome|AY1AZ"),
		sum("24              00020261207    101500AOlib|AA21234|AEJane Doe|BLY|CQY|BHUSD|BV0.00|AY2AZ"),
		sum("24YYYY          00020261207    101500AOlib|AA99999|AE|BLN|AFInvalid patron|AY3AZ"),
		sum("64              00020261207    101500" + counts + "AOlib|AA21234|AEDoe, Jane|BZ0010|CA0005|CB0050|BLY|CQY|BHUSD|BV2.50|CC10.00|PA20271231|PB19800101|PCADULT|BDMain St 1|BEjane@example.org|AFGreetings|AY4AZ"),
		sum("64Y         Y   00020261207    101500" + counts + "AOlib|AA21234|AERen\xe9e|BLY|CQN|BV45.00|AFPatron has fines|AY5AZ"),
		"64YYYY          00020261207    101500" + counts + "AOlib|AA0|AE|BLN|AFNo such patron|\r\n",
		"6400020261207    101500AOlib|AA1|\r",
		"96\r",
	}
}

func TestFuzzSeedsDecode(t *testing.T) {
	for i, s := range realReplies()[:9] {
		if _, err := Decode([]byte(s), Latin1); err != nil {
			t.Errorf("seed %d %q: %v", i, s, err)
		}
	}
}

// FuzzDecode feeds the decoder (and the reader in front of it) what an ILS,
// or anything pretending to be one, may send.
func FuzzDecode(f *testing.F) {
	for _, s := range realReplies() {
		for cs := range 3 {
			f.Add([]byte(s), byte(cs))
		}
	}
	f.Add(bytes.Repeat([]byte("x"), MaxMessage+10), byte(0))
	profiles := []Profile{}
	for _, n := range ProfileNames() {
		p, _ := ProfileByName(n)
		profiles = append(profiles, p)
	}
	f.Fuzz(func(t *testing.T, data []byte, csb byte) {
		cs := Charset(csb % 3)
		r := NewReader(bytes.NewReader(data))
		for range 4 {
			raw, err := r.ReadMessage()
			if err != nil {
				break
			}
			if len(raw) > MaxMessage {
				t.Fatalf("reader returned %d bytes", len(raw))
			}
		}
		m, err := Decode(data, cs)
		if err != nil {
			return
		}
		sp := specs[m.Code]
		if len(m.Fixed) != sp.fixed {
			t.Fatalf("fixed part %q, want %d characters", m.Fixed, sp.fixed)
		}
		for _, fl := range m.Fields {
			if fl.Code == "AY" || strings.ContainsAny(fl.Value, "|\r\n") {
				t.Fatalf("field %+v", fl)
			}
		}
		for _, p := range profiles {
			p.Interpret(m, true, when) // must not panic, whatever the fields
		}
		// What decodes, re-encodes to the same message (when it can be
		// encoded: a replaced invalid byte cannot).
		seq := max(m.Seq, 0)
		b, err := Encode(nil, m, Framing{Checksums: m.Checksummed, Charset: cs}, seq)
		if err != nil {
			return
		}
		m2, err := Decode(b, cs)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", b, err)
		}
		if m2.Code != m.Code || m2.Fixed != m.Fixed || len(m2.Fields) != len(m.Fields) || m2.Checksummed != m.Checksummed {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
		for i := range m.Fields {
			if m.Fields[i] != m2.Fields[i] {
				t.Fatalf("round trip changed field %+v into %+v", m.Fields[i], m2.Fields[i])
			}
		}
	})
}
