package downloads

import (
	"errors"
	"testing"
)

var recordCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"good", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":10,"original_path":"` + absPath + `","uid":1000,"gid":1000,"mode":420,"reason":"PE executable","kind":"pe","time":"2026-11-23T19:00:00Z"}`, true},
	{"no kind", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":0,"original_path":"` + absPath + `","uid":-1,"gid":-1,"mode":0,"reason":"","time":"2026-11-23T19:00:00Z"}`, true},
	{"bad id", `{"id":"../x","sha256":"` + hex64 + `","size":10,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"upper hex", `{"id":"0123456789ABCDEF0123456789abcdef","sha256":"` + hex64 + `","size":10,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"short sha", `{"id":"0123456789abcdef0123456789abcdef","sha256":"abc","size":10,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"relative path", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":10,"original_path":"x/y","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"dotdot path", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":10,"original_path":"` + absPath + `/../../etc","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"setuid mode", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":10,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":2541,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"negative size", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":-1,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"uid -2", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":1,"original_path":"` + absPath + `","uid":-2,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"no time", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":1,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":420,"reason":"r"}`, false},
	{"unknown field", `{"id":"0123456789abcdef0123456789abcdef","extra":1,"sha256":"` + hex64 + `","size":1,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"}`, false},
	{"trailing", `{"id":"0123456789abcdef0123456789abcdef","sha256":"` + hex64 + `","size":1,"original_path":"` + absPath + `","uid":0,"gid":0,"mode":420,"reason":"r","time":"2026-11-23T19:00:00Z"} {}`, false},
	{"not json", `MZ`, false},
	{"empty", ``, false},
}

const hex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestDecodeRecord(t *testing.T) {
	for _, c := range recordCases {
		t.Run(c.name, func(t *testing.T) {
			r, err := DecodeRecord([]byte(c.in))
			if c.ok && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !c.ok && !errors.Is(err, ErrBadRecord) {
				t.Fatalf("got %+v, %v; want ErrBadRecord", r, err)
			}
		})
	}
}

// FuzzDecodeRecord: whatever DecodeRecord accepts is valid and survives a
// round trip; it never panics.
func FuzzDecodeRecord(f *testing.F) {
	for _, c := range recordCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v does not match ErrBadRecord", err)
			}
			return
		}
		if err := r.validate(); err != nil {
			t.Fatalf("accepted an invalid record: %v", err)
		}
		if !isHex(r.ID, 32) || r.Mode > 0o777 {
			t.Fatalf("accepted %+v", r)
		}
	})
}
