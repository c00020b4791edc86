package sip2emu

import (
	"bufio"
	"net"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The requests below are written by hand, checksums computed apart (a
// Python sum), so the emulator is checked against the standard and not
// against internal/sip2.
const (
	login   = "9300CNhub|COhub-secret|AY0AZF683"
	status  = "9900802.00AY1AZFCA0"
	patron  = "6300020261207    101500          AOlib|AA1001|AC|ADp\xe91|AY2AZF197" // Latin-1 PIN
	resend  = "97AY2AZFE29"
	badLine = "9900802.00AY1AZFCA1"
)

func dial(t *testing.T, s *Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req, term string) string {
	t.Helper()
	if _, err := c.Write([]byte(req + term)); err != nil {
		t.Fatal(err)
	}
	line, err := br.ReadString(term[len(term)-1])
	if err != nil {
		t.Fatalf("reply to %.2s: %v", req, err)
	}
	if !strings.HasSuffix(line, term) {
		t.Fatalf("reply %q does not end with %q", line, term)
	}
	return strings.TrimSuffix(line, term)
}

// verify checks a reply's trailer the standard's way.
func verify(t *testing.T, reply, seq string) {
	t.Helper()
	n := len(reply)
	if n < 9 || reply[n-9:n-7] != "AY" || reply[n-7:n-6] != seq || reply[n-6:n-4] != "AZ" {
		t.Fatalf("reply %q lacks AY%sAZ", reply, seq)
	}
	sum := 0
	for i := 0; i < n-4; i++ {
		sum += int(reply[i])
	}
	sum += int(hex(reply[n-4:]))
	if sum&0xffff != 0 {
		t.Fatalf("reply %q: bytes plus checksum sum to %#x, want 0 mod 2^16", reply, sum&0xffff)
	}
}

func hex(s string) int {
	n := 0
	for _, c := range s {
		n = n*16 + strings.IndexRune("0123456789ABCDEF", c)
	}
	return n
}

func TestConversationByTheStandard(t *testing.T) {
	base := runtime.NumGoroutine()
	q := Quirks{Terminator: "\r\n", StrictTerminator: true, Checksums: true, Sequence: true, Latin1: true, ExpiryField: "PA"}
	s, err := Start(Options{Quirks: q, User: "hub", Password: "hub-secret", Institution: "lib",
		Patrons: []Patron{{Card: "1001", PIN: "pé1", Name: "Renée", Expires: "20991231", Fines: "1.00"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, br := dial(t, s)
	if r := roundTrip(t, c, br, login, "\r\n"); r[:3] != "941" {
		t.Fatalf("login: %q", r)
	} else {
		verify(t, r, "0")
	}
	r := roundTrip(t, c, br, status, "\r\n")
	verify(t, r, "1")
	if !regexp.MustCompile(`^98YYYYNN005003\d{8} {4}\d{6}2\.00AOlib\|AM[^|]*\|BX[YN]{16}\|`).MatchString(r) {
		t.Fatalf("98: %q", r)
	}
	r = roundTrip(t, c, br, patron, "\r\n")
	verify(t, r, "2")
	// 64: status(14) language(3) date(18) six counts(24), then fields.
	if !regexp.MustCompile(`^64 {14}000\d{8} {4}\d{6}0{24}AOlib\|AA1001\|AERen.e\|BLY\|CQY\|BHUSD\|BV1\.00\|PA20991231\|`).MatchString(r) {
		t.Fatalf("64: %q", r)
	}
	if !strings.Contains(r, "Ren\xe9e") {
		t.Fatalf("64 not in Latin-1: %q", r)
	}
	// A 97 gets the same reply again.
	if again := roundTrip(t, c, br, resend, "\r\n"); again != r {
		t.Fatalf("resend: %q, want %q", again, r)
	}
	// A bad checksum on a request gets a 96.
	if r := roundTrip(t, c, br, badLine, "\r\n"); !strings.HasPrefix(r, "96") {
		t.Fatalf("bad checksum: %q, want a 96", r)
	}
	// Strict "\r\n": a request ended by '\r' alone gets nothing; it waits.
	c.Write([]byte(status + "\r"))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("a strict \\r\\n server answered a request ended by \\r")
	}
	st := s.Stats()
	if st.Logins != 1 || st.PatronRequests != 1 || st.Resends != 1 || st.BadRequests != 1 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before Start", runtime.NumGoroutine(), base)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUnknownCardAndLoginRules(t *testing.T) {
	s, err := Start(Options{Quirks: Quirks{OmitBL: true}, User: "hub", Password: "pw", Institution: "lib"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, br := dial(t, s)
	// A patron request before the login: the connection is dropped.
	c.Write([]byte("2300020261207    101500AOlib|AA1|AC|AD1|\r"))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("answered a patron request before the login")
	}
	c, br = dial(t, s)
	if r := roundTrip(t, c, br, "9300CNhub|COwrong|", "\r"); r != "940" {
		t.Fatalf("wrong password: %q", r)
	}
	if r := roundTrip(t, c, br, "9300CNhub|COpw|", "\r"); r != "941" {
		t.Fatalf("login: %q", r)
	}
	r := roundTrip(t, c, br, "2300020261207    101500AOlib|AA1|AC|AD1|", "\r")
	if !regexp.MustCompile(`^24YYYY {10}000\d{8} {4}\d{6}AOlib\|AA1\|AE\|AF`).MatchString(r) {
		t.Fatalf("unknown card, no BL: %q", r)
	}
}

func TestFaults(t *testing.T) {
	s, err := Start(Options{Institution: "lib", Patrons: []Patron{{Card: "1", PIN: "1", Name: "A"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := "6300020261207    101500          AOlib|AA1|AC|AD1|"
	c, br := dial(t, s)
	s.SetFault(Fault{Kind: FaultMissingField, Times: 1})
	if r := roundTrip(t, c, br, req, "\r"); strings.Contains(r, "|AA") {
		t.Fatalf("missing field: %q", r)
	}
	s.SetFault(Fault{Kind: FaultUnknownField, Times: 1})
	if r := roundTrip(t, c, br, req, "\r"); !strings.Contains(r, "|ZY") || !strings.Contains(r, "|AA1|") {
		t.Fatalf("unknown field: %q", r)
	}
	if r := roundTrip(t, c, br, req, "\r"); strings.Contains(r, "|ZY") {
		t.Fatalf("a fault for one reply stayed: %q", r)
	}
	s.SetFault(Fault{Kind: FaultDrop, Times: 1})
	c.Write([]byte(req + "\r"))
	b := make([]byte, 1024)
	n, _ := br.Read(b)
	if _, err := br.ReadByte(); err == nil || n == 0 || strings.Contains(string(b[:n]), "\r") {
		t.Fatalf("drop: got %q then no EOF", b[:n])
	}
	c, br = dial(t, s)
	s.SetFault(Fault{Kind: FaultGarbage, Times: 1})
	c.Write([]byte(req + "\r"))
	junk := make([]byte, 64<<10)
	for got := 0; got < len(junk); {
		n, err := br.Read(junk[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if strings.ContainsAny(string(junk), "\r\n") {
		t.Fatal("garbage holds a terminator")
	}
}

func TestParsePatronsAndFaults(t *testing.T) {
	in := "# comment\n\n1001|1001|Jane Doe\n2002|2002|B|charge-denied,excessive-fines|12.00|10.00|20200101\n"
	ps, err := ParsePatrons(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Patron{{Card: "1001", PIN: "1001", Name: "Jane Doe"},
		{Card: "2002", PIN: "2002", Name: "B", ChargeDenied: true, ExcessiveFines: true, Fines: "12.00", FeeLimit: "10.00", Expires: "20200101"}}
	if len(ps) != 2 || ps[0] != want[0] || ps[1] != want[1] {
		t.Fatalf("got %+v", ps)
	}
	for _, bad := range []string{"|1|x\n", "1|1|x|stolen\n", "1|2|3|4|5|6|7|8\n"} {
		if _, err := ParsePatrons(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for i, n := range faultNames {
		if k, err := ParseFault(n); err != nil || k != FaultKind(i) {
			t.Errorf("%s: %v, %v", n, k, err)
		}
	}
	if _, err := ParseFault("fire"); err == nil {
		t.Error("unknown fault accepted")
	}
}
