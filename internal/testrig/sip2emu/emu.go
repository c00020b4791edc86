// Package sip2emu is a test rig: a SIP2 2.00 server (an "ACS") emulator
// that tests start on loopback to exercise internal/sip2 and, later, the
// hub's card sign-in. It is written from the standard, apart from the
// client's codec on purpose, so that a misreading of the standard in one
// does not hide in the other.
//
// It answers 93 (login), 99 (SC status), 23 (patron status), 63 (patron
// information) and 97 (resend) from a patron table, with switches for the
// quirks of the ILS profiles (terminator, checksums, sequence numbers,
// Latin-1, no BL, an expiry field) and faults for the bad-input tests: slow
// answers, a connection dropped mid-reply, garbage, a bad checksum, a
// missing or an unknown field, no reply at all, an ACS off-line.
//
// It is not shipped and is no model of any one ILS's server: it keeps the
// table in memory and forgets everything when closed.
package sip2emu

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"
)

// Patron is one row of the emulator's patron table.
type Patron struct {
	Card, PIN, Name string
	// Blocks that set the standard's patron status characters.
	ChargeDenied, CardLost, ExcessiveFines bool
	// Status, when 14 characters long, is sent as the patron status as is.
	Status string
	// Fines (BV) and FeeLimit (CC) are amounts as the ILS writes them.
	Fines, FeeLimit string
	// Expires is YYYYMMDD, sent in Quirks.ExpiryField when that is set.
	Expires string
}

// Quirks are the per-ILS differences the emulator can play.
type Quirks struct {
	// Terminator ends each reply: "\r" (default) or "\r\n".
	Terminator string
	// StrictTerminator: a request ends only at Terminator (a server that
	// waits for "\r\n" never sees a request ended by "\r" alone).
	StrictTerminator bool
	// Checksums: replies carry AY/AZ, and requests must (else a 96).
	Checksums bool
	// Sequence: replies echo the request's AY; otherwise they carry AZ only.
	Sequence bool
	// Latin1: text goes both ways in ISO-8859-1 (else UTF-8).
	Latin1 bool
	// OmitBL: replies say nothing of the card's validity but the name.
	OmitBL bool
	// ExpiryField carries Patron.Expires ("PA"); empty: not sent.
	ExpiryField string
	// Extra fields added to each patron reply, as a vendor's would be.
	Extra []string
}

// QuirksFor returns the emulator's idea of an ILS named as in
// internal/sip2's profiles; an unknown name gets the generic quirks.
func QuirksFor(name string) Quirks {
	switch name {
	case "koha":
		return Quirks{Terminator: "\r", Checksums: true, Sequence: true, ExpiryField: "PA", Extra: []string{"PB19800101", "PCADULT"}}
	case "evergreen":
		return Quirks{Terminator: "\r", ExpiryField: "PA", Extra: []string{"PCPatrons", "PIAllowed", "ZZunknown"}}
	case "sierra":
		return Quirks{Terminator: "\r\n", StrictTerminator: true, Checksums: true, Sequence: true}
	case "sirsidynix":
		return Quirks{Terminator: "\r", Checksums: true, Sequence: false, Latin1: true}
	default:
		return Quirks{Terminator: "\r", Checksums: true, Sequence: true}
	}
}

// Options configure a Server.
type Options struct {
	Quirks
	// Addr to listen on; empty is 127.0.0.1:0.
	Addr string
	// TLS, when set, serves TLS.
	TLS *tls.Config
	// User and Password the 93 must carry; empty User accepts any login
	// and serves without one.
	User, Password string
	Institution    string
	Patrons        []Patron
}

// FaultKind is a way to answer a patron request badly.
type FaultKind int

const (
	FaultNone FaultKind = iota
	// FaultDrop writes half of the reply, then closes the connection.
	FaultDrop
	// FaultGarbage writes 64 KiB with no terminator and keeps the
	// connection open.
	FaultGarbage
	// FaultBadChecksum sends the reply with a wrong AZ (a 97 then gets it
	// right).
	FaultBadChecksum
	// FaultMissingField leaves AA (patron identifier) out.
	FaultMissingField
	// FaultUnknownField adds fields no standard defines; the reply stays
	// good.
	FaultUnknownField
	// FaultNoReply reads the request and never answers.
	FaultNoReply
	// FaultOffline answers the 99 with on-line status N (not a patron
	// reply: it applies to the next 98).
	FaultOffline
)

// Fault is a fault for the next Times patron replies (0: every one until
// another SetFault).
type Fault struct {
	Kind  FaultKind
	Times int
}

// Stats count what the emulator saw.
type Stats struct {
	Connections, Logins, PatronRequests, Resends, BadRequests int
}

// Server is a running emulator.
type Server struct {
	opts Options
	ln   net.Listener
	wg   sync.WaitGroup
	done chan struct{}

	mu      sync.Mutex // guards the fields below
	patrons map[string]Patron
	fault   Fault
	delay   time.Duration
	stats   Stats
	conns   map[net.Conn]struct{}
	closed  bool
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Terminator == "" {
		opts.Terminator = "\r"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("sip2emu: listen: %w", err)
	}
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &Server{opts: opts, ln: ln, done: make(chan struct{}),
		patrons: map[string]Patron{}, conns: map[net.Conn]struct{}{}}
	for _, p := range opts.Patrons {
		s.patrons[p.Card] = p
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the host:port the emulator listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// SetFault sets how the next patron replies go wrong.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// SetDelay makes each patron reply wait d first.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// SetPatron adds or replaces a row of the table.
func (s *Server) SetPatron(p Patron) {
	s.mu.Lock()
	s.patrons[p.Card] = p
	s.mu.Unlock()
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// takeFault returns the fault for this reply and counts it down.
func (s *Server) takeFault(offline bool) FaultKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	if (s.fault.Kind == FaultOffline) != offline || s.fault.Kind == FaultNone {
		return FaultNone
	}
	k := s.fault.Kind
	if s.fault.Times > 0 {
		if s.fault.Times--; s.fault.Times == 0 {
			s.fault = Fault{}
		}
	}
	return k
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.stats.Connections++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// session is one connection's state.
type session struct {
	s        *Server
	c        net.Conn
	loggedIn bool
	last     []byte // the last good reply, for a 97
}

func (s *Server) serve(c net.Conn) {
	ss := &session{s: s, c: c, loggedIn: s.opts.User == ""}
	br := bufio.NewReader(c)
	for {
		raw, err := ss.read(br)
		if err != nil {
			return
		}
		if !ss.handle(raw) {
			return
		}
	}
}

// read returns the next request without its terminator.
func (ss *session) read(br *bufio.Reader) (string, error) {
	var b strings.Builder
	term := ss.s.opts.Terminator
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if b.Len() > 1<<16 {
			return "", errors.New("request too long")
		}
		if ss.s.opts.StrictTerminator {
			b.WriteByte(c)
			if strings.HasSuffix(b.String(), term) {
				return strings.TrimSuffix(b.String(), term), nil
			}
			continue
		}
		if c == '\r' || c == '\n' {
			if b.Len() == 0 {
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(c)
	}
}

// request is a parsed request: code, fixed part, fields, sequence.
type request struct {
	code, fixed string
	fields      map[string]string
	seq         string
}

var fixedLen = map[string]int{"93": 2, "99": 8, "23": 21, "63": 31, "97": 0}

// parse checks and splits a request; ok false means answer 96.
func (ss *session) parse(raw string) (request, bool) {
	raw = ss.s.text(raw)
	r := request{fields: map[string]string{}}
	if ss.s.opts.Checksums {
		n := len(raw)
		if n < 9 || raw[n-6:n-4] != "AZ" || raw[n-9:n-7] != "AY" {
			return r, false
		}
		if !strings.EqualFold(raw[n-4:], checksum(ss.s.bytes(raw[:n-4]))) {
			return r, false
		}
		r.seq = raw[n-7 : n-6]
		raw = raw[:n-9]
	}
	if len(raw) < 2 {
		return r, false
	}
	r.code = raw[:2]
	fl, ok := fixedLen[r.code]
	if !ok || len(raw) < 2+fl {
		return r, false
	}
	r.fixed = raw[2 : 2+fl]
	for _, seg := range strings.Split(raw[2+fl:], "|") {
		if len(seg) >= 2 {
			if _, dup := r.fields[seg[:2]]; !dup {
				r.fields[seg[:2]] = seg[2:]
			}
		}
	}
	return r, true
}

// handle answers one request; false closes the connection.
func (ss *session) handle(raw string) bool {
	s := ss.s
	r, ok := ss.parse(raw)
	if !ok {
		s.count(func(st *Stats) { st.BadRequests++ })
		return ss.send(s.encode("96", "", nil, ""), false)
	}
	switch r.code {
	case "97":
		s.count(func(st *Stats) { st.Resends++ })
		if ss.last == nil {
			return ss.send(s.encode("96", "", nil, ""), false)
		}
		if s.faultActive(FaultBadChecksum) { // a line that corrupts every reply
			return ss.write(s.corrupt(ss.last))
		}
		return ss.write(ss.last)
	case "93":
		ok := s.opts.User == "" || (r.fields["CN"] == s.opts.User && r.fields["CO"] == s.opts.Password)
		ss.loggedIn = ok
		if ok {
			s.count(func(st *Stats) { st.Logins++ })
		}
		return ss.send(s.encode("94", map[bool]string{true: "1", false: "0"}[ok], nil, r.seq), true)
	case "99":
		online := "Y"
		if s.takeFault(true) == FaultOffline || !ss.loggedIn {
			online = "N"
		}
		fixed := online + "YYYNN" + "005" + "003" + sipDate(time.Now()) + "2.00"
		fields := [][2]string{{"AO", s.opts.Institution}, {"AM", "Carrel test library"},
			{"BX", "YYYYYYYYYYYYYYYY"}, {"AF", "emulator on-line"}}
		return ss.send(s.encode("98", fixed, fields, r.seq), true)
	case "23", "63":
		if !ss.loggedIn {
			return false // an ACS drops an SC that did not log in
		}
		s.count(func(st *Stats) { st.PatronRequests++ })
		return ss.patron(r)
	}
	return ss.send(s.encode("96", "", nil, ""), false)
}

func (ss *session) patron(r request) bool {
	s := ss.s
	fault := s.takeFault(false)
	s.mu.Lock()
	delay := s.delay
	p, known := s.patrons[r.fields["AA"]]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-s.done:
			return false
		}
	}
	if fault == FaultNoReply {
		return true
	}
	if fault == FaultGarbage {
		junk := make([]byte, 64<<10)
		for i := range junk {
			junk[i] = byte(0x21 + rand.IntN(0x5d)) // printable, never '\r' or '\n'
		}
		return ss.write(junk)
	}
	status := strings.Repeat(" ", 14)
	fields := [][2]string{{"AO", s.opts.Institution}}
	if fault != FaultMissingField {
		fields = append(fields, [2]string{"AA", r.fields["AA"]})
	}
	if !known {
		status = "YYYY          "
		fields = append(fields, [2]string{"AE", ""})
		if !s.opts.OmitBL {
			fields = append(fields, [2]string{"BL", "N"})
		}
	} else {
		st := []byte(status)
		if p.ChargeDenied {
			st[0] = 'Y'
		}
		if p.CardLost {
			st[4] = 'Y'
		}
		if p.ExcessiveFines {
			st[10] = 'Y'
		}
		status = string(st)
		if len(p.Status) == 14 {
			status = p.Status
		}
		fields = append(fields, [2]string{"AE", p.Name})
		if !s.opts.OmitBL {
			fields = append(fields, [2]string{"BL", "Y"})
		}
		if pin, sent := r.fields["AD"]; sent {
			fields = append(fields, [2]string{"CQ", map[bool]string{true: "Y", false: "N"}[pin == p.PIN]})
		}
		fields = append(fields, [2]string{"BH", "USD"})
		if p.Fines != "" {
			fields = append(fields, [2]string{"BV", p.Fines})
		}
		if p.FeeLimit != "" {
			fields = append(fields, [2]string{"CC", p.FeeLimit})
		}
		if s.opts.ExpiryField != "" && p.Expires != "" {
			fields = append(fields, [2]string{s.opts.ExpiryField, p.Expires})
		}
	}
	for _, x := range s.opts.Extra {
		fields = append(fields, [2]string{x[:2], x[2:]})
	}
	if fault == FaultUnknownField {
		fields = append(fields, [2]string{"ZY", "a field no standard has"}, [2]string{"Q9", ""})
	}
	fields = append(fields, [2]string{"AF", "Greetings from the emulator"})
	fixed := status + "000" + sipDate(time.Now())
	code := "24"
	if r.code == "63" {
		code = "64"
		fixed += strings.Repeat("0000", 6)
	}
	good := s.encode(code, fixed, fields, r.seq)
	switch fault {
	case FaultDrop:
		ss.write(good[:len(good)/2])
		return false
	case FaultBadChecksum:
		ss.last = good
		return ss.write(s.corrupt(good))
	}
	return ss.send(good, true)
}

// corrupt returns b with its last checksum digit changed (or, without
// checksums, its last character before the terminator).
func (s *Server) corrupt(b []byte) []byte {
	bad := append([]byte(nil), b...)
	i := len(bad) - len(s.opts.Terminator) - 1 // last hex digit of AZ
	if !s.opts.Checksums {
		i-- // no AZ: corrupt the text
	}
	bad[i] = map[bool]byte{true: '1', false: '0'}[bad[i] == '0']
	return bad
}

// faultActive says kind is the fault in force, without counting it down.
func (s *Server) faultActive(kind FaultKind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault.Kind == kind
}

// send writes a reply, remembering it for a 97 when keep.
func (ss *session) send(b []byte, keep bool) bool {
	if keep {
		ss.last = b
	}
	return ss.write(b)
}

func (ss *session) write(b []byte) bool {
	_, err := ss.c.Write(b)
	return err == nil
}

// encode builds a reply: code, fixed part, fields, the error-detection
// trailer when the quirks have checksums, the terminator.
func (s *Server) encode(code, fixed string, fields [][2]string, seq string) []byte {
	var b strings.Builder
	b.WriteString(code + fixed)
	for _, f := range fields {
		b.WriteString(f[0] + f[1] + "|")
	}
	out := s.bytes(b.String())
	if s.opts.Checksums {
		if s.opts.Sequence {
			if seq == "" {
				seq = "0"
			}
			out = append(out, "AY"+seq...)
		}
		out = append(out, "AZ"...)
		out = append(out, checksum(out)...)
	}
	return append(out, s.opts.Terminator...)
}

// bytes encodes text in the emulator's charset; text decodes a request.
func (s *Server) bytes(t string) []byte {
	if !s.opts.Latin1 {
		return []byte(t)
	}
	out := make([]byte, 0, len(t))
	for _, r := range t {
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

func (s *Server) text(raw string) string {
	if !s.opts.Latin1 {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		b.WriteRune(rune(raw[i]))
	}
	return b.String()
}

// checksum: the standard's, over every byte up to and including "AZ".
func checksum(b []byte) string {
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	return fmt.Sprintf("%04X", (-sum)&0xffff)
}

func sipDate(t time.Time) string {
	return t.Format("20060102") + "    " + t.Format("150405")
}

// ParsePatrons reads a patron table, one patron a line:
//
//	card|pin|name|flags|fines|fee limit|expires
//
// where flags is a comma list of charge-denied, card-lost and
// excessive-fines, and the fields after name may be left out. Blank lines
// and lines starting with '#' are skipped.
func ParsePatrons(r io.Reader) ([]Patron, error) {
	var out []Patron
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "|")
		for len(f) < 7 {
			f = append(f, "")
		}
		if f[0] == "" || len(f) > 7 {
			return nil, fmt.Errorf("sip2emu: patrons line %d: want card|pin|name|flags|fines|fee limit|expires", n)
		}
		p := Patron{Card: f[0], PIN: f[1], Name: f[2], Fines: f[4], FeeLimit: f[5], Expires: f[6]}
		for _, fl := range strings.Split(f[3], ",") {
			switch strings.TrimSpace(fl) {
			case "":
			case "charge-denied":
				p.ChargeDenied = true
			case "card-lost":
				p.CardLost = true
			case "excessive-fines":
				p.ExcessiveFines = true
			default:
				return nil, fmt.Errorf("sip2emu: patrons line %d: unknown flag %q", n, fl)
			}
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// ParseFault reads a fault's name: none, drop, garbage, bad-checksum,
// missing-field, unknown-field, no-reply or offline.
func ParseFault(s string) (FaultKind, error) {
	for k, n := range faultNames {
		if n == s {
			return FaultKind(k), nil
		}
	}
	return FaultNone, fmt.Errorf("sip2emu: unknown fault %q (want one of %s)", s, strings.Join(faultNames, ", "))
}

var faultNames = []string{"none", "drop", "garbage", "bad-checksum", "missing-field", "unknown-field", "no-reply", "offline"}
