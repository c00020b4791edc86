package session

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

var utmpT0 = time.Date(2026, 11, 23, 19, 1, 11, 316347000, time.UTC)

func utmpFile(recs ...utmpRecord) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, encodeUtmpRecord(r)...)
	}
	return b
}

func TestParseUtmp(t *testing.T) {
	boot := utmpRecord{Type: utmpBootTime, Line: "~", ID: "~~", User: "reboot", Host: "6.18.44", Time: utmpT0}
	login := utmpRecord{Type: utmpLoginProcess, PID: 37, Line: "pts/0", ID: "cons", User: "LOGIN", Time: utmpT0}
	user := utmpRecord{Type: utmpUserProcess, PID: 70, Line: "pts/5", ID: "ts/5", User: "patron1", Time: utmpT0}
	dead := utmpRecord{Type: utmpDeadProcess, PID: 70, Line: "pts/5", ID: "ts/5", Time: utmpT0.Add(time.Minute)}
	full := user
	full.User = "abcdefghijklmnopqrstuvwxyz012345" // 32 bytes, no NUL
	full.Line = "pts/7"

	badType := utmpFile(user)
	badType[0] = 42
	ctrl := utmpFile(user)
	ctrl[44] = 0x1b
	badUTF8 := utmpFile(user)
	badUTF8[44] = 0xff
	badUsec := utmpFile(user)
	badUsec[344], badUsec[345], badUsec[346] = 0x40, 0x42, 0x0f // 1,000,000

	tests := []struct {
		name    string
		file    []byte
		want    map[string]string // session id -> user
		wantErr string
	}{
		{"empty file", nil, map[string]string{}, ""},
		{"boot and getty only", utmpFile(boot, login), map[string]string{}, ""},
		{"one user", utmpFile(boot, login, user), map[string]string{"tty:pts/5": "patron1"}, ""},
		{"user then dead", utmpFile(boot, user, dead), map[string]string{}, ""},
		{"32-byte name", utmpFile(full), map[string]string{"tty:pts/7": full.User}, ""},
		{"torn file", utmpFile(user)[:200], nil, "multiple of 384"},
		{"unknown type", badType, nil, "unknown type 42"},
		{"control char", ctrl, nil, "control character"},
		{"bad utf8", badUTF8, nil, "not valid UTF-8"},
		{"bad usec", badUsec, nil, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := parseUtmp(tt.file)
			if tt.wantErr != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := utmpSessions(recs)
			if len(got) != len(tt.want) {
				t.Fatalf("sessions = %v, want %v", got, tt.want)
			}
			for id, u := range tt.want {
				if got[id].User != u {
					t.Fatalf("session %s user = %q, want %q", id, got[id].User, u)
				}
			}
		})
	}
	recs, err := parseUtmp(utmpFile(user))
	if err != nil || recs[0] != user {
		t.Fatalf("round trip = %+v, %v; want %+v", recs, err, user)
	}
	if _, err := parseUtmp(make([]byte, 1)); !errors.Is(err, errUtmpSize) {
		t.Fatalf("err = %v, want errUtmpSize", err)
	}
}

func FuzzParseUtmp(f *testing.F) {
	f.Add([]byte{})
	f.Add(utmpFile(utmpRecord{Type: utmpUserProcess, PID: 70, Line: "pts/5", ID: "ts/5", User: "patron1", Time: utmpT0}))
	f.Add(utmpFile(utmpRecord{Type: utmpBootTime, Line: "~", User: "reboot"}, utmpRecord{Type: utmpDeadProcess, Line: "pts/5"}))
	f.Add(make([]byte, utmpRecordSize-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parseUtmp(b)
		if err != nil {
			return
		}
		if len(recs)*utmpRecordSize != len(b) {
			t.Fatalf("%d records from %d bytes", len(recs), len(b))
		}
		for _, r := range recs {
			// What parses must survive a round trip (fields are clipped to size).
			again, err := parseUtmpRecord(encodeUtmpRecord(r))
			if err != nil || again != r {
				t.Fatalf("round trip of %+v = %+v, %v", r, again, err)
			}
		}
		for id, r := range utmpSessions(recs) {
			if r.Type != utmpUserProcess || r.User == "" || id != "tty:"+r.Line {
				t.Fatalf("bad open session %s: %+v", id, r)
			}
		}
	})
}
