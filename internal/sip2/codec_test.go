package sip2

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// Checksums computed apart from this package (a three-line Python sum); the
// 94 agrees with the "941AY3AZFDFA" quoted in ILS documentation.
func TestChecksumKnown(t *testing.T) {
	for msg, want := range map[string]string{
		"9300CNhub|COsecret|CPbranch1|AY0AZ": "F441",
		"941AY0AZ":                           "FDFD",
		"941AY3AZ":                           "FDFA",
		"9900802.00AY1AZ":                    "FCA0",
		"64              00020261207    101500000000000000000000000000AOlib|AA21234|AEJane Doe|BLY|CQY|BHUSD|AY2AZ": "E771",
	} {
		if got := Checksum([]byte(msg)); got != want {
			t.Errorf("Checksum(%q) = %s, want %s", msg, got, want)
		}
	}
}

var when = time.Date(2026, 12, 7, 10, 15, 0, 0, time.UTC)

func TestEncodeKnown(t *testing.T) {
	f := Framing{Terminator: "\r", Checksums: true}
	b, err := Encode(nil, LoginRequest("hub", "secret", "branch1"), f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "9300CNhub|COsecret|CPbranch1|AY0AZF441\r"; got != want {
		t.Fatalf("login = %q, want %q", got, want)
	}
	b, _ = Encode(nil, SCStatusRequest(), Framing{Terminator: "\r\n"}, 5)
	if got, want := string(b), "9900802.00\r\n"; got != want {
		t.Fatalf("99 without checksums = %q, want %q", got, want)
	}
	req := PatronRequest{Institution: "lib", Card: "21234", PIN: "1234", Now: when}.Message()
	b, _ = Encode(nil, req, Framing{}, 0)
	if got, want := string(b), "6300020261207    101500          AOlib|AA21234|AC|AD1234|\r"; got != want {
		t.Fatalf("63 = %q, want %q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	msgs := []Message{
		LoginRequest("hub", "pw", ""),
		SCStatusRequest(),
		PatronRequest{Code: "23", Institution: "lib", Card: "c1", PIN: "p", Now: when}.Message(),
		PatronRequest{Institution: "lib", Card: "c1", Now: when}.Message(),
		{Code: "94", Fixed: "1"},
		{Code: "98", Fixed: "YYYYNN005003" + Date(when) + "2.00", Fields: []Field{{"AO", "lib"}, {"BX", "YYYY"}}},
		{Code: "64", Fixed: strings.Repeat(" ", 14) + "000" + Date(when) + strings.Repeat("0000", 6),
			Fields: []Field{{"AO", "lib"}, {"AA", "c1"}, {"AE", "Zoë Ünal"}, {"BL", "Y"}, {"XX", ""}}},
	}
	for _, m := range msgs {
		for _, f := range []Framing{{Terminator: "\r"}, {Terminator: "\r\n", Checksums: true}, {Checksums: true, Charset: Latin1}} {
			b, err := Encode(nil, m, f, 7)
			if err != nil {
				t.Fatalf("encode %s: %v", m.Code, err)
			}
			got, err := Decode(b, f.Charset)
			if err != nil {
				t.Fatalf("decode %q: %v", b, err)
			}
			if got.Code != m.Code || got.Fixed != m.Fixed || len(got.Fields) != len(m.Fields) {
				t.Fatalf("round trip %q: got %+v", b, got)
			}
			for i := range m.Fields {
				if got.Fields[i] != m.Fields[i] {
					t.Fatalf("field %d: got %+v, want %+v", i, got.Fields[i], m.Fields[i])
				}
			}
			if got.Checksummed != f.Checksums || (f.Checksums && got.Seq != 7) || (!f.Checksums && got.Seq != NoSeq) {
				t.Fatalf("%q: checksummed %v seq %d", b, got.Checksummed, got.Seq)
			}
		}
	}
}

const reply64 = "64              00020261207    101500000000000000000000000000AOlib|AA21234|AEJane Doe|BLY|CQY|BHUSD|"

func TestDecodeBadInput(t *testing.T) {
	good := reply64 + "AY2AZE771"
	cases := []struct {
		name, in string
		want     error
		field    string
	}{
		{"bad checksum", reply64 + "AY2AZE772", ErrChecksum, ""},
		{"checksum not hex", reply64 + "AY2AZE77G", ErrMalformed, "AY"},
		{"checksum not last", reply64 + "AZE771|AEx|", ErrMalformed, "AZ"},
		{"missing field", strings.Replace(reply64, "AA21234|", "", 1), ErrMissingField, "AA"},
		{"truncated fixed part", reply64[:40], ErrTruncated, ""},
		{"only a code", "6", ErrTruncated, ""},
		{"empty", "", ErrTruncated, ""},
		{"garbage", "\x00\xff garbage", ErrMalformed, ""},
		{"unknown message", "42YYYY", ErrUnknownMessage, ""},
		{"not a field", reply64 + "a|", ErrMalformed, ""},
		{"control character", reply64 + "AF\x01|", ErrMalformed, "AF"},
		{"bad sequence", reply64 + "AYX|", ErrMalformed, "AY"},
		{"too long", reply64 + "AF" + strings.Repeat("x", MaxMessage) + "|", ErrTooLong, ""},
	}
	for _, c := range cases {
		_, err := Decode([]byte(c.in), UTF8)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != c.field {
			t.Errorf("%s: err %#v, want a DecodeError on field %q", c.name, err, c.field)
		}
		if strings.Contains(err.Error(), "21234") || strings.Contains(err.Error(), "Jane") {
			t.Errorf("%s: error %q carries a value", c.name, err)
		}
	}
	m, err := Decode([]byte(good+"\r"), UTF8)
	if err != nil || !m.Checksummed || m.Seq != 2 {
		t.Fatalf("good reply: %+v, %v", m, err)
	}
	// An unknown field is kept, not fatal; a '|'-terminated AY is read too.
	m, err = Decode([]byte(reply64+"ZZwhat is this|AY2|"), UTF8)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Get("ZZ"); !ok || v != "what is this" || m.Seq != 2 {
		t.Fatalf("unknown field: %+v", m)
	}
}

func TestCharsets(t *testing.T) {
	raw := []byte(strings.Replace(reply64, "Jane Doe", "Ren\xe9e", 1))
	for cs, want := range map[Charset]string{Latin1: "Renée", ASCII: "Ren\uFFFDe", UTF8: "Ren\uFFFDe"} {
		m, err := Decode(raw, cs)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Get("AE"); v != want {
			t.Errorf("%v: AE = %q, want %q", cs, v, want)
		}
	}
	m, _ := Decode([]byte(strings.Replace(reply64, "Jane Doe", "Renée", 1)), UTF8)
	if v, _ := m.Get("AE"); v != "Renée" {
		t.Errorf("utf-8: AE = %q", v)
	}
	for _, c := range []struct {
		cs  Charset
		in  string
		out string
		err bool
	}{
		{Latin1, "é", "\xe9", false}, {UTF8, "é", "é", false}, {ASCII, "é", "", true},
		{Latin1, "€", "", true}, {UTF8, "a|b", "", true}, {UTF8, "a\rb", "", true},
	} {
		b, err := c.cs.append(nil, c.in)
		if (err != nil) != c.err || (!c.err && string(b) != c.out) {
			t.Errorf("%v %q: %q, %v", c.cs, c.in, b, err)
		}
	}
	for _, s := range []string{"UTF-8", "latin1", "ISO-8859-1", "ascii"} {
		if _, err := ParseCharset(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseCharset("ebcdic"); err == nil {
		t.Error("ebcdic accepted")
	}
}

func TestEncodeRefusesValues(t *testing.T) {
	req := PatronRequest{Institution: "lib", Card: "21234", PIN: "12|34", Now: when}.Message()
	_, err := Encode(nil, req, Framing{}, 0)
	var de *DecodeError
	if !errors.Is(err, ErrUnencodable) || !errors.As(err, &de) || de.Field != "AD" {
		t.Fatalf("PIN with '|': %v", err)
	}
	if strings.Contains(err.Error(), "12|34") {
		t.Fatalf("error carries the PIN: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReader(t *testing.T) {
	r := NewReader(strings.NewReader("941AY0AZFDFD\r\n\r\n9900802.00\n64x\r"))
	for _, want := range []string{"941AY0AZFDFD", "9900802.00", "64x"} {
		b, err := r.ReadMessage()
		if err != nil || string(b) != want {
			t.Fatalf("got %q, %v; want %q", b, err, want)
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	r = NewReader(strings.NewReader("941AY0"))
	if _, err := r.ReadMessage(); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut short: %v", err)
	}
	// 64 KB of garbage: refused after reading about MaxMessage, not all of it.
	cr := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 64<<10))}
	r = NewReader(cr)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("garbage: %v", err)
	}
	if cr.n > MaxMessage+4096 {
		t.Fatalf("read %d bytes of garbage before refusing", cr.n)
	}
}

func TestInterpret(t *testing.T) {
	generic, _ := ProfileByName(ProfileGeneric)
	koha, _ := ProfileByName(ProfileKoha)
	const blank = "              "
	msg := func(status string, fields ...string) Message {
		m := Message{Code: "64", Fixed: status + "000" + Date(when) + strings.Repeat("0000", 6),
			Fields: []Field{{"AO", "lib"}, {"AA", "1"}}}
		for _, f := range fields {
			m.Fields = append(m.Fields, Field{f[:2], f[2:]})
		}
		return m
	}
	cases := []struct {
		name    string
		p       Profile
		m       Message
		pinSent bool
		want    Patron
		err     error
	}{
		{"ok", generic, msg(blank, "AEJ", "BLY", "CQY"), true, Patron{Outcome: OutcomeOK}, nil},
		{"unknown", generic, msg("YYYY          ", "AE", "BLN"), true, Patron{Outcome: OutcomeUnknownCard}, nil},
		{"no BL, no name", generic, msg(blank, "AE"), true, Patron{Outcome: OutcomeUnknownCard}, nil},
		{"no BL, named", generic, msg(blank, "AEJ", "CQY"), true, Patron{Outcome: OutcomeOK}, nil},
		{"PIN wrong hides blocks", generic, msg("Y             ", "AEJ", "BLY", "CQN"), true, Patron{Outcome: OutcomePINWrong}, nil},
		{"no CQ fails closed", generic, msg(blank, "AEJ", "BLY"), true, Patron{Outcome: OutcomePINWrong}, nil},
		{"no PIN sent, no CQ", generic, msg(blank, "AEJ", "BLY"), false, Patron{Outcome: OutcomeOK}, nil},
		{"charge denied", generic, msg("Y             ", "AEJ", "BLY", "CQY"), true,
			Patron{Outcome: OutcomeBlocked, Reason: BlockChargeDenied, Blocks: BlockChargeDenied}, nil},
		{"hold denied does not refuse", generic, msg("   Y          ", "AEJ", "BLY", "CQY"), true,
			Patron{Outcome: OutcomeOK, Blocks: BlockHoldDenied}, nil},
		{"fines", generic, msg("          Y   ", "AEJ", "BLY", "CQY"), true,
			Patron{Outcome: OutcomeBlocked, Reason: BlockExcessiveFines, Blocks: BlockExcessiveFines}, nil},
		{"fee over limit", generic, msg(blank, "AEJ", "BLY", "CQY", "BV$12.50", "CC10.00"), true,
			Patron{Outcome: OutcomeBlocked, Reason: BlockFeeLimit, Blocks: BlockFeeLimit}, nil},
		{"fee under limit", generic, msg(blank, "AEJ", "BLY", "CQY", "BV2.50", "CC10.00"), true, Patron{Outcome: OutcomeOK}, nil},
		{"expired (koha PA)", koha, msg(blank, "AEJ", "BLY", "CQY", "PA20261206"), true,
			Patron{Outcome: OutcomeBlocked, Reason: BlockCardExpired, Blocks: BlockCardExpired}, nil},
		{"expires today", koha, msg(blank, "AEJ", "BLY", "CQY", "PA20261207"), true, Patron{Outcome: OutcomeOK}, nil},
		{"generic ignores PA", generic, msg(blank, "AEJ", "BLY", "CQY", "PA20201206"), true, Patron{Outcome: OutcomeOK}, nil},
		{"BL neither Y nor N", generic, msg(blank, "AEJ", "BLmaybe"), true, Patron{}, ErrMalformed},
		{"wrong message", generic, Message{Code: "94", Fixed: "1"}, true, Patron{}, ErrUnexpectedReply},
	}
	for _, c := range cases {
		got, err := c.p.Interpret(c.m, c.pinSent, when)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", c.name, got, err, c.want, c.err)
		}
	}
	if s := (BlockChargeDenied | BlockCardExpired).String(); s != "charge privileges denied, card expired" {
		t.Errorf("Block.String = %q", s)
	}
	for _, n := range ProfileNames() {
		if p, err := ProfileByName(n); err != nil || p.Name != n {
			t.Errorf("profile %s: %+v, %v", n, p, err)
		}
	}
	if _, err := ProfileByName("alma"); err == nil {
		t.Error("unknown profile accepted")
	}
}
