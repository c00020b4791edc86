package sip2

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxMessage caps one message, terminator included. SIP2 replies about one
// patron are a few hundred bytes; anything past this is garbage, and the
// reader refuses it instead of reading on.
const MaxMessage = 8 << 10

// Decode errors. A *DecodeError wraps one of them; test with errors.Is. None
// of them, nor their wrappers, ever carries a field's value: only message and
// field codes, which come from the standard.
var (
	ErrChecksum       = errors.New("bad checksum")
	ErrNoChecksum     = errors.New("checksum missing")
	ErrSequence       = errors.New("sequence number does not match the request")
	ErrTruncated      = errors.New("message truncated")
	ErrTooLong        = errors.New("message too long")
	ErrMissingField   = errors.New("required field missing")
	ErrMalformed      = errors.New("malformed message")
	ErrUnknownMessage = errors.New("unknown message code")
	// ErrUnexpectedReply: a well-formed message, not the one that answers
	// the request.
	ErrUnexpectedReply = errors.New("unexpected reply")
	// ErrUnencodable is an Encode error: a value holds a character the
	// charset cannot carry, or one that SIP2 uses as a delimiter.
	ErrUnencodable = errors.New("value cannot be sent in SIP2")
)

// DecodeError says which message and field a decode or encode error is about.
type DecodeError struct {
	Code  string // message code, "64"; empty when the input had none
	Field string // field code, "AA", when the error is about one field
	Err   error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("sip2: ")
	if e.Code != "" {
		b.WriteString("message " + e.Code + ": ")
	}
	if e.Field != "" {
		b.WriteString("field " + e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Field is one variable-length field: a two-character code and its value.
type Field struct {
	Code, Value string
}

// Message is one SIP2 message: a two-digit code, its fixed-length part (all
// fixed fields run together, exactly as long as the standard says), and its
// variable fields in the order they came. Fields the package does not know
// are kept here and ignored by the interpretation.
type Message struct {
	Code   string
	Fixed  string
	Fields []Field
	// Seq is the AY sequence number (0-9), or NoSeq when the message had
	// none. Checksummed says an AZ checksum was present (and verified).
	Seq         int
	Checksummed bool
}

// NoSeq is Message.Seq for a message without an AY field.
const NoSeq = -1

// Get returns the first value of field code.
func (m *Message) Get(code string) (string, bool) {
	for _, f := range m.Fields {
		if f.Code == code {
			return f.Value, true
		}
	}
	return "", false
}

// spec is what the standard fixes for one message: the length of its fixed
// part and the variable fields it must carry.
type spec struct {
	fixed    int
	required []string
}

// specs are the messages this package speaks (SIP2 2.00). Requests are here
// too: the fuzz and table tests decode what Encode makes.
var specs = map[string]spec{
	"93": {2, []string{"CN", "CO"}},              // login: UID algorithm, PWD algorithm
	"94": {1, nil},                               // login response: ok
	"99": {1 + 3 + 4, nil},                       // SC status: status, print width, version
	"98": {6*1 + 3 + 3 + 18 + 4, []string{"AO"}}, // ACS status
	"23": {3 + 18, []string{"AO", "AA"}},         // patron status request: language, date
	"24": {14 + 3 + 18, []string{"AO", "AA", "AE"}},
	"63": {3 + 18 + 10, []string{"AO", "AA"}}, // patron information: language, date, summary
	"64": {14 + 3 + 18 + 6*4, []string{"AO", "AA", "AE"}},
	"96": {0, nil}, // request SC resend
	"97": {0, nil}, // request ACS resend
}

// Checksum is the standard's error-detection value for msg, which must end
// with "AZ": the two's complement of the sum of its bytes, low 16 bits, as
// four upper-case hex digits.
func Checksum(msg []byte) string {
	var sum uint16
	for _, c := range msg {
		sum += uint16(c)
	}
	return fmt.Sprintf("%04X", uint16(-int32(sum)))
}

// Framing is how messages are put on the wire: what ends them, whether they
// carry AY/AZ, and the charset of their text.
type Framing struct {
	Terminator string // "\r" (the standard) or "\r\n"
	Checksums  bool   // append AY<seq>AZ<checksum> to what is sent
	Charset    Charset
}

// Encode appends m to dst as it goes on the wire, with sequence number seq
// when f.Checksums is set. A value that holds '|', a control character or a
// character the charset cannot carry is refused with ErrUnencodable.
func Encode(dst []byte, m Message, f Framing, seq int) ([]byte, error) {
	sp, ok := specs[m.Code]
	if !ok {
		return dst, &DecodeError{Code: safeCode(m.Code), Err: ErrUnknownMessage}
	}
	if len(m.Fixed) != sp.fixed {
		return dst, &DecodeError{Code: m.Code, Err: fmt.Errorf("%w: fixed part is %d characters, want %d", ErrMalformed, len(m.Fixed), sp.fixed)}
	}
	start := len(dst)
	dst = append(dst, m.Code...)
	var err error
	if dst, err = f.Charset.append(dst, m.Fixed); err != nil {
		return dst[:start], &DecodeError{Code: m.Code, Err: err}
	}
	for _, fl := range m.Fields {
		if !isFieldCode(fl.Code) || fl.Code == "AY" || fl.Code == "AZ" {
			return dst[:start], &DecodeError{Code: m.Code, Err: fmt.Errorf("%w: bad field code", ErrUnencodable)}
		}
		dst = append(dst, fl.Code...)
		if dst, err = f.Charset.append(dst, fl.Value); err != nil {
			return dst[:start], &DecodeError{Code: m.Code, Field: fl.Code, Err: err}
		}
		dst = append(dst, '|')
	}
	if f.Checksums {
		dst = append(dst, 'A', 'Y', byte('0'+seq%10), 'A', 'Z')
		dst = append(dst, Checksum(dst[start:])...)
	}
	term := f.Terminator
	if term == "" {
		term = "\r"
	}
	return append(dst, term...), nil
}

// Decode parses one message read off the wire, terminator stripped or not.
// An AZ checksum, when present, is verified; whether one is required is the
// caller's rule (Message.Checksummed says). Fixed parts shorter than the
// standard's, missing required fields and bytes that are no field are errors;
// unknown fields are kept.
func Decode(raw []byte, cs Charset) (Message, error) {
	if len(raw) > MaxMessage {
		return Message{}, &DecodeError{Err: ErrTooLong}
	}
	for len(raw) > 0 && (raw[len(raw)-1] == '\r' || raw[len(raw)-1] == '\n') {
		raw = raw[:len(raw)-1]
	}
	if len(raw) < 2 {
		return Message{}, &DecodeError{Err: ErrTruncated}
	}
	if !isDigit(raw[0]) || !isDigit(raw[1]) {
		return Message{}, &DecodeError{Err: fmt.Errorf("%w: no message code", ErrMalformed)}
	}
	m := Message{Code: string(raw[:2]), Seq: NoSeq}
	sp, ok := specs[m.Code]
	if !ok {
		return Message{}, &DecodeError{Code: m.Code, Err: ErrUnknownMessage}
	}
	head := 2 + sp.fixed
	// The error-detection trailer is "AZ<4 hex>" at the very end, after the
	// fixed part, starting a field: right after the fixed part, after a
	// '|', or after "AY<digit>" (AY may stand alone or be '|'-terminated).
	// Anything else ending in "AZ" is text, and fails as a field if it is
	// not one.
	if n := len(raw); n >= head+6 && raw[n-6] == 'A' && raw[n-5] == 'Z' && isHex(raw[n-4:]) &&
		(n-6 == head || raw[n-7] == '|' || (n-9 >= head && raw[n-9] == 'A' && raw[n-8] == 'Y' && isDigit(raw[n-7]))) {
		got := raw[n-4:]
		if !strings.EqualFold(string(got), Checksum(raw[:n-4])) {
			return Message{}, &DecodeError{Code: m.Code, Err: ErrChecksum}
		}
		m.Checksummed = true
		raw = raw[:n-6]
	}
	if len(raw) < head {
		return Message{}, &DecodeError{Code: m.Code, Err: ErrTruncated}
	}
	for _, c := range raw[2:head] {
		if c < 0x20 || c > 0x7e {
			return Message{}, &DecodeError{Code: m.Code, Err: fmt.Errorf("%w: fixed part is not printable ASCII", ErrMalformed)}
		}
	}
	m.Fixed = string(raw[2:head])
	rest := raw[head:]
	for len(rest) > 0 {
		seg := rest
		if i := bytes.IndexByte(rest, '|'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(seg) == 0 {
			continue // an empty segment ("||") carries nothing
		}
		if len(seg) < 2 || !isFieldCode(string(seg[:2])) {
			return Message{}, &DecodeError{Code: m.Code, Err: fmt.Errorf("%w: bytes that are not a field", ErrMalformed)}
		}
		code := string(seg[:2])
		if code == "AZ" {
			return Message{}, &DecodeError{Code: m.Code, Field: "AZ", Err: fmt.Errorf("%w: checksum not at the end", ErrMalformed)}
		}
		if code == "AY" {
			if len(seg) != 3 || !isDigit(seg[2]) {
				return Message{}, &DecodeError{Code: m.Code, Field: "AY", Err: ErrMalformed}
			}
			m.Seq = int(seg[2] - '0')
			continue
		}
		for _, c := range seg[2:] {
			if c < 0x20 || c == 0x7f {
				return Message{}, &DecodeError{Code: m.Code, Field: code, Err: fmt.Errorf("%w: control character in a value", ErrMalformed)}
			}
		}
		m.Fields = append(m.Fields, Field{Code: code, Value: cs.decode(seg[2:])})
	}
	for _, r := range sp.required {
		if _, ok := m.Get(r); !ok {
			return Message{}, &DecodeError{Code: m.Code, Field: r, Err: ErrMissingField}
		}
	}
	return m, nil
}

// Charset is the text encoding an ILS speaks. The standard says ASCII; ILSes
// send UTF-8 or Latin-1 in names and messages.
type Charset int

const (
	UTF8 Charset = iota
	ASCII
	Latin1
)

func (c Charset) String() string {
	switch c {
	case ASCII:
		return "ascii"
	case Latin1:
		return "latin1"
	default:
		return "utf-8"
	}
}

// ParseCharset reads "utf-8", "ascii" or "latin1" (and their usual spellings).
func ParseCharset(s string) (Charset, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "-")) {
	case "utf-8", "utf8", "":
		return UTF8, nil
	case "ascii", "us-ascii":
		return ASCII, nil
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
		return Latin1, nil
	}
	return UTF8, fmt.Errorf("sip2: unknown charset %q (want utf-8, ascii or latin1)", s)
}

func (c Charset) decode(b []byte) string {
	switch c {
	case ASCII:
		var s strings.Builder
		for _, x := range b {
			if x < 0x80 {
				s.WriteByte(x)
			} else {
				s.WriteRune(utf8.RuneError)
			}
		}
		return s.String()
	case Latin1:
		var s strings.Builder
		for _, x := range b {
			s.WriteRune(rune(x))
		}
		return s.String()
	default:
		return strings.ToValidUTF8(string(b), string(utf8.RuneError))
	}
}

func (c Charset) append(dst []byte, s string) ([]byte, error) {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '|' || r == utf8.RuneError {
			return dst, ErrUnencodable
		}
		switch {
		case r < 0x80:
			dst = append(dst, byte(r))
		case c == Latin1 && r <= 0xff:
			dst = append(dst, byte(r))
		case c == UTF8:
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, ErrUnencodable
		}
	}
	return dst, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) && (c < 'A' || c > 'F') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isFieldCode: field codes are two upper-case letters or digits ("AA", "PB").
func isFieldCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		c := s[i]
		if !isDigit(c) && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// safeCode is a message code fit for an error string: two digits, or nothing.
func safeCode(s string) string {
	if len(s) == 2 && isDigit(s[0]) && isDigit(s[1]) {
		return s
	}
	return ""
}

// sipDate is the standard's 18-character date: YYYYMMDDZZZZHHMMSS, the zone
// left blank for local time.
func sipDate(y, mo, d, h, mi, s int) string {
	return strconv.Itoa(10000 + y)[1:] + two(mo) + two(d) + "    " + two(h) + two(mi) + two(s)
}

func two(n int) string { return strconv.Itoa(100 + n%100)[1:] }
