package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func validStatus() Status {
	return Status{Hostname: "pc-01", OS: "linux", OSVersion: "debian 12", Arch: "amd64",
		AgentVersion: "1.0.0", BootTime: t0, AgentStarted: t0, Session: SessionFree}
}

// goodMessages is one valid value of every message type; the round-trip test and
// the fuzz seeds both use it.
func goodMessages() []Message {
	st := validStatus()
	return []Message{
		&Hello{TerminalID: "t-0123456789abcdef", Status: st, NextSeq: 7},
		&Welcome{TerminalID: "t-0123456789abcdef", AckedSeq: 6, HubTime: t0, Locked: true},
		&st,
		&Event{Seq: 1, Time: t0, Kind: "download.blocked", Severity: SeverityAlert,
			Data: map[string]string{"name": "setup\u202eexe.pdf", "sha256": strings.Repeat("a", 64)}},
		&Ack{Seq: 42},
		&Command{ID: "c-1", Terminal: "t-1", Action: ActionPing, IssuedBy: "local:root",
			IssuedAt: t0, ExpiresAt: t0.Add(2 * time.Minute)},
		&Result{ID: "c-1", OK: true, Output: "pong", Time: t0},
		&Renew{CSR: "-----BEGIN CERTIFICATE REQUEST-----\n..."},
		&Cert{Certificate: "-----BEGIN CERTIFICATE-----\n..."},
		&SignIn{ID: "r-1", Card: "21234000012345", PIN: "1234"},
		&SignInAnswer{ID: "r-1", Refusal: RefuseFines},
		&SignInAnswer{ID: "r-2", Grant: &Grant{ID: "g-1", Terminal: "t-1", Kind: PatronGuest, Patron: "guest",
			Issued: t0, Ends: t0.Add(time.Hour), Seconds: 3600, EndsBy: "guest", Warnings: []int{10, 5, 1}, Sig: "c2ln"}},
		&GrantUpdate{Grant: Grant{ID: "g-1", Terminal: "t-1", Kind: PatronCard, Patron: "p-3f2a",
			Issued: t0, Ends: t0.Add(time.Hour), Seconds: 3600, EndsBy: "staff", IdleEnd: 600, IdleWarn: 60, Sig: "c2ln"}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range goodMessages() {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("encode %s: %v", m.MsgType(), err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v\n%s", m.MsgType(), err, b)
		}
		if got.MsgType() != m.MsgType() {
			t.Fatalf("type %s decoded as %s", m.MsgType(), got.MsgType())
		}
		again, _ := json.Marshal(got)
		want, _ := json.Marshal(m)
		if string(again) != string(want) {
			t.Errorf("%s changed in a round trip:\n got %s\nwant %s", m.MsgType(), again, want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	big := strings.Repeat("x", MaxFrame)
	cases := []struct {
		name  string
		frame string
		want  error
		field string // for ErrInvalid: the field the error must name
	}{
		{"garbage", `{{{`, ErrMalformed, ""},
		{"not an object", `"hello"`, ErrMalformed, ""},
		{"empty", ``, ErrMalformed, ""},
		{"trailing data", `{"v":1,"type":"ack","body":{"seq":1}}}`, ErrMalformed, ""},
		{"second value", `{"v":1,"type":"ack","body":{"seq":1}} {}`, ErrMalformed, ""},
		{"wrong version", `{"v":2,"type":"ack","body":{"seq":1}}`, ErrVersion, ""},
		{"no version", `{"type":"ack","body":{"seq":1}}`, ErrVersion, ""},
		{"unknown type", `{"v":1,"type":"exec","body":{}}`, ErrUnknownType, ""},
		{"missing body", `{"v":1,"type":"ack"}`, ErrMalformed, ""},
		{"null body", `{"v":1,"type":"ack","body":null}`, ErrMalformed, ""},
		{"unknown envelope field", `{"v":1,"type":"ack","body":{"seq":1},"x":1}`, ErrMalformed, ""},
		{"unknown body field", `{"v":1,"type":"ack","body":{"seq":1,"admin":true}}`, ErrMalformed, ""},
		{"wrong field type", `{"v":1,"type":"ack","body":{"seq":"1"}}`, ErrMalformed, ""},
		{"oversized frame", `{"v":1,"type":"result","body":{"id":"` + big + `"}}`, ErrTooLarge, ""},
		{"event seq zero", `{"v":1,"type":"event","body":{"seq":0,"time":"2026-01-01T00:00:00Z","kind":"k","severity":"info"}}`, ErrInvalid, "seq"},
		{"event no kind", `{"v":1,"type":"event","body":{"seq":1,"time":"2026-01-01T00:00:00Z","severity":"info"}}`, ErrInvalid, "kind"},
		{"event bad severity", `{"v":1,"type":"event","body":{"seq":1,"time":"2026-01-01T00:00:00Z","kind":"k","severity":"panic"}}`, ErrInvalid, "severity"},
		{"event no time", `{"v":1,"type":"event","body":{"seq":1,"kind":"k","severity":"info"}}`, ErrInvalid, "time"},
		{"event long kind", `{"v":1,"type":"event","body":{"seq":1,"time":"2026-01-01T00:00:00Z","kind":"` + strings.Repeat("k", 300) + `","severity":"info"}}`, ErrInvalid, "kind"},
		{"hello no terminal", `{"v":1,"type":"hello","body":{"status":{"hostname":"h","os":"linux","agent_version":"1","session":"free"}}}`, ErrInvalid, "terminal_id"},
		{"hello bad session", `{"v":1,"type":"hello","body":{"terminal_id":"t","status":{"hostname":"h","os":"linux","agent_version":"1","session":"partying"}}}`, ErrInvalid, "status.session"},
		{"hello no hostname", `{"v":1,"type":"hello","body":{"terminal_id":"t","status":{"os":"linux","agent_version":"1","session":"free"}}}`, ErrInvalid, "status.hostname"},
		{"command no expiry", `{"v":1,"type":"command","body":{"id":"c","terminal":"t","action":"ping","issued_by":"a","issued_at":"2026-01-01T00:00:00Z"}}`, ErrInvalid, "expires_at"},
		{"command expires before issue", `{"v":1,"type":"command","body":{"id":"c","terminal":"t","action":"ping","issued_by":"a","issued_at":"2026-01-01T00:00:00Z","expires_at":"2025-01-01T00:00:00Z"}}`, ErrInvalid, "expires_at"},
		{"command no id", `{"v":1,"type":"command","body":{"terminal":"t","action":"ping","issued_by":"a","issued_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-02T00:00:00Z"}}`, ErrInvalid, "id"},
		{"result long error", `{"v":1,"type":"result","body":{"id":"c","ok":false,"error":"` + strings.Repeat("e", MaxText+1) + `","time":"2026-01-01T00:00:00Z"}}`, ErrInvalid, "error"},
		{"renew empty", `{"v":1,"type":"renew","body":{"csr":""}}`, ErrInvalid, "csr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode([]byte(c.frame))
			if err == nil {
				t.Fatalf("decoded %#v, want error %v", m, c.want)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %q is not %v", err, c.want)
			}
			if c.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != c.field {
					t.Fatalf("error %q does not name field %q", err, c.field)
				}
			}
		})
	}
}

func TestDataLimits(t *testing.T) {
	e := Event{Seq: 1, Time: t0, Kind: "k", Severity: SeverityInfo, Data: map[string]string{}}
	for i := 0; i <= MaxDataEntries; i++ {
		e.Data[strings.Repeat("k", i+1)] = "v"
	}
	if err := e.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%d data entries accepted: %v", len(e.Data), err)
	}
	e.Data = map[string]string{"name": "bad \xff utf8"}
	if err := e.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid UTF-8 accepted: %v", err)
	}
	e.Data = map[string]string{"": "empty key"}
	if err := e.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty key accepted: %v", err)
	}
}

func TestEncodeRefusesInvalidAndOversized(t *testing.T) {
	if _, err := Encode(&Event{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("encoded an invalid event: %v", err)
	}
	// Each value fits its field limit, but together they exceed the frame.
	e := &Event{Seq: 1, Time: t0, Kind: "k", Severity: SeverityInfo, Data: map[string]string{}}
	for i := 0; i < MaxDataEntries; i++ {
		e.Data[string(rune('a'+i%26))+strings.Repeat("x", i)] = strings.Repeat("\u202e", MaxText/3)
	}
	if _, err := Encode(e); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encoded a frame over MaxFrame: %v", err)
	}
}

func TestActions(t *testing.T) {
	for _, a := range Actions {
		if !a.Known() {
			t.Errorf("%s not known", a)
		}
	}
	for _, a := range []Action{"exec", "", "PING", "screenshot", "push-file"} {
		if a.Known() {
			t.Errorf("%q is known; the set must stay closed", a)
		}
	}
	// An unknown action is still a decodable command: the agent must answer it.
	c := &Command{ID: "c", Terminal: "t", Action: "exec", IssuedBy: "x", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b); err != nil {
		t.Fatalf("command with unknown action not decodable: %v", err)
	}
}

func TestFromAgent(t *testing.T) {
	for typ, want := range map[Type]bool{TypeHello: true, TypeStatus: true, TypeEvent: true,
		TypeResult: true, TypeRenew: true, TypeAck: false, TypeCommand: false, TypeWelcome: false, TypeCert: false} {
		if FromAgent(typ) != want {
			t.Errorf("FromAgent(%s) = %v", typ, !want)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	var r EnrollRequest
	if err := DecodeJSON([]byte(`{"token":"t","csr":"c","hostname":"h","os":"linux","x":1}`), 1024, &r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown field accepted: %v", err)
	}
	if err := DecodeJSON([]byte(`{"token":"t"}`), 5, &r); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized body accepted: %v", err)
	}
	if err := DecodeJSON([]byte(`{"token":"t","csr":"c","hostname":"h","os":"linux"}`), 1024, &r); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	r.Token = ""
	if err := r.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing token accepted: %v", err)
	}
}

// FuzzDecode: any bytes either decode to a message that validates and re-encodes,
// or give an error that is one of the package's sentinels. Never a panic.
func FuzzDecode(f *testing.F) {
	for _, m := range goodMessages() {
		b, _ := Encode(m)
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"type":"event","body":{"seq":0}}`))
	f.Add([]byte(`{"v":1,"type":"command","body":{"args":{"":""}}}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrUnknownType) &&
				!errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error outside the sentinels: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded message does not validate: %v", err)
		}
		if _, err := Encode(m); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
	})
}

func FuzzDecodeEnroll(f *testing.F) {
	f.Add([]byte(`{"token":"t","csr":"c","hostname":"h","os":"linux"}`))
	f.Add([]byte(`{"token":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r EnrollRequest
		if err := DecodeJSON(data, 32<<10, &r); err != nil {
			return
		}
		_ = r.Validate()
	})
}

func TestStaffDecode(t *testing.T) {
	if _, err := DecodeStaffRequest([]byte(`{"id":1,"op":"terminals"}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"id":1}`, `{"id":1,"op":"terminals","sudo":true}`, `[]`, `{"id":1,"op":"x"} {}`} {
		if _, err := DecodeStaffRequest([]byte(bad)); err == nil {
			t.Errorf("staff request %s accepted", bad)
		}
	}
	if _, err := DecodeStaffFrame([]byte(`{"response":{"id":1,"ok":true},"push":{}}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("frame with both response and push accepted: %v", err)
	}
	if _, err := DecodeStaffFrame([]byte(`{}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty frame accepted: %v", err)
	}
}

func TestDisplayState(t *testing.T) {
	st := validStatus()
	cases := []struct {
		v    TerminalView
		want DisplayState
	}{
		{TerminalView{Online: false, Status: &st}, "offline"},
		{TerminalView{Online: true, Revoked: true, Status: &st}, "revoked"},
		{TerminalView{Online: true}, "unknown"},
		{TerminalView{Online: true, Status: &Status{Session: SessionInUse, Locked: true}}, "locked"},
		{TerminalView{Online: true, Status: &Status{Session: SessionDirty, Locked: true}}, "dirty"},
		{TerminalView{Online: true, Status: &Status{Session: SessionInUse}}, "in-use"},
		{TerminalView{Online: true, Status: &st}, "free"},
	}
	for _, c := range cases {
		if got := c.v.DisplayState(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.v, got, c.want)
		}
	}
}

func FuzzDecodeStaff(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"terminals"}`))
	f.Add([]byte(`{"response":{"id":1,"ok":true}}`))
	f.Add([]byte(`{"push":{"event":{"id":3,"terminal":"t","seq":1,"time":"2026-01-01T00:00:00Z","kind":"k","severity":"info"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		DecodeStaffRequest(data)
		DecodeStaffFrame(data)
	})
}

// A whole room of 2,000 terminals is one hub → console frame: bigger than an
// agent frame, within MaxStaffFrame.
func TestStaffFrameCarriesARoom(t *testing.T) {
	st := validStatus()
	views := make([]TerminalView, 2000)
	for i := range views {
		views[i] = TerminalView{ID: fmt.Sprintf("t-%016x", i), Name: fmt.Sprintf("pc-%04d", i), Online: true, Status: &st, LastSeen: t0}
	}
	body, _ := json.Marshal(views)
	frame, _ := json.Marshal(StaffFrame{Response: &StaffResponse{ID: 1, OK: true, Body: body}})
	if len(frame) <= MaxFrame || len(frame) > MaxStaffFrame {
		t.Fatalf("a 2,000-terminal answer is %d bytes; want between MaxFrame and MaxStaffFrame", len(frame))
	}
	f, err := DecodeStaffFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	var got []TerminalView
	if err := json.Unmarshal(f.Response.Body, &got); err != nil || len(got) != 2000 {
		t.Fatalf("room did not survive: %d terminals, %v", len(got), err)
	}
	if _, err := DecodeStaffRequest(frame); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a console request of %d bytes accepted: %v", len(frame), err)
	}
}

// Every kind has an event ID of its own for the OS's log, within the range a
// registered Windows event source covers.
func TestEventLogIDs(t *testing.T) {
	seen := map[uint32]EventKind{}
	for _, k := range EventKinds {
		id := k.LogID()
		if id < 4 || id > 1000 {
			t.Errorf("%s has event ID %d; give it one in logIDs (4 to 1000)", k, id)
		}
		if o, dup := seen[id]; dup {
			t.Errorf("%s and %s share event ID %d", k, o, id)
		}
		seen[id] = k
	}
	if len(logIDs) != len(EventKinds) {
		t.Errorf("logIDs has %d kinds, EventKinds %d", len(logIDs), len(EventKinds))
	}
}
