package sip2

import (
	"fmt"
	"strings"
	"time"
)

// Date formats t as the standard's 18-character transaction date
// (YYYYMMDDZZZZHHMMSS, zone blank: local time of the SC).
func Date(t time.Time) string {
	return sipDate(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}

// LoginRequest is a 93: the SC's own account on the ACS, in clear
// (algorithms "0"); location is the optional CP.
func LoginRequest(user, password, location string) Message {
	m := Message{Code: "93", Fixed: "00", Fields: []Field{{"CN", user}, {"CO", password}}}
	if location != "" {
		m.Fields = append(m.Fields, Field{"CP", location})
	}
	return m
}

// SCStatusRequest is a 99: status ok, print width 80, protocol 2.00.
func SCStatusRequest() Message {
	return Message{Code: "99", Fixed: "0" + "080" + "2.00"}
}

// PatronRequest is what asks about one patron: a 63 (patron information,
// no item lists) or a 23 (patron status), with the patron's card (AA) and
// PIN (AD). The PIN is sent only when not empty.
type PatronRequest struct {
	Code             string // "63" or "23"
	Institution      string // AO
	TerminalPassword string // AC
	Card, PIN        string // AA, AD
	Now              time.Time
}

// Message builds the request.
func (p PatronRequest) Message() Message {
	fixed := "000" + Date(p.Now)
	if p.Code != "23" {
		p.Code = "63"
		fixed += strings.Repeat(" ", 10) // summary: no item lists
	}
	m := Message{Code: p.Code, Fixed: fixed, Fields: []Field{
		{"AO", p.Institution}, {"AA", p.Card}, {"AC", p.TerminalPassword},
	}}
	if p.PIN != "" {
		m.Fields = append(m.Fields, Field{"AD", p.PIN})
	}
	return m
}

// LoginOK reads a 94: whether the ACS accepted the login.
func LoginOK(m Message) (bool, error) {
	if m.Code != "94" {
		return false, unexpected("94", m.Code)
	}
	switch m.Fixed {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return false, &DecodeError{Code: "94", Err: fmt.Errorf("%w: ok is neither 0 nor 1", ErrMalformed)}
}

// ACSOnline reads a 98: whether the ACS says it is on-line.
func ACSOnline(m Message) (bool, error) {
	if m.Code != "98" {
		return false, unexpected("98", m.Code)
	}
	if m.Fixed == "" {
		return false, &DecodeError{Code: "98", Err: ErrTruncated}
	}
	switch m.Fixed[0] {
	case 'Y':
		return true, nil
	case 'N':
		return false, nil
	}
	return false, &DecodeError{Code: "98", Err: fmt.Errorf("%w: on-line status is neither Y nor N", ErrMalformed)}
}

// PatronStatus is the 14-character patron status of a 24 or 64, one flag
// per character ('Y' set, anything else clear), as the bits of Block.
func PatronStatus(m Message) (Block, error) {
	if m.Code != "24" && m.Code != "64" {
		return 0, unexpected("64", m.Code)
	}
	if len(m.Fixed) < 14 {
		return 0, &DecodeError{Code: m.Code, Err: ErrTruncated}
	}
	var b Block
	for i := 0; i < 14; i++ {
		if m.Fixed[i] == 'Y' {
			b |= 1 << i
		}
	}
	return b, nil
}

func unexpected(want, got string) error {
	return &DecodeError{Code: got, Err: fmt.Errorf("%w: expected a %s", ErrUnexpectedReply, want)}
}
