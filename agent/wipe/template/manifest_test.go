package template

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const validManifest = `{"version":1,"entries":[
 {"path":".","type":"dir","mode":448,"owner":"patron","group":"patron"},
 {"path":".bashrc","type":"file","mode":420,"size":3,"sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","owner":"patron","group":"patron"},
 {"path":"Desktop","type":"dir","mode":493,"owner":"patron","group":"0"},
 {"path":"Desktop/link","type":"symlink","mode":511,"target":"../.bashrc","owner":"patron","group":"patron"}
]}`

var manifestCases = []struct {
	name, in string
	ok       bool
}{
	{"valid", validManifest, true},
	{"unknown field", strings.Replace(validManifest, `"version":1`, `"version":1,"x":2`, 1), false},
	{"bad version", strings.Replace(validManifest, `"version":1`, `"version":2`, 1), false},
	{"trailing", validManifest + "{}", false},
	{"dotdot", strings.Replace(validManifest, `"Desktop/link"`, `"Desktop/../../etc"`, 1), false},
	{"absolute", strings.Replace(validManifest, `"Desktop/link"`, `"/etc/passwd"`, 1), false},
	{"orphan", strings.Replace(validManifest, `"Desktop/link"`, `"Nope/link"`, 1), false},
	{"unsorted", strings.Replace(validManifest, `".bashrc"`, `"Z"`, 1), false},
	{"setuid mode", strings.Replace(validManifest, `"mode":420`, `"mode":2541`, 1), false},
	{"bad hash", strings.Replace(validManifest, `"2c26`, `"XX26`, 1), false},
	{"bad owner", strings.Replace(validManifest, `"group":"0"`, `"group":"-1"`, 1), false},
	{"leading zero owner", strings.Replace(validManifest, `"group":"0"`, `"group":"01"`, 1), false},
	{"no root", `{"version":1,"entries":[]}`, false},
	{"empty", ``, false},
	{"backslash", strings.Replace(validManifest, `"Desktop/link"`, `"Desktop/a\\b"`, 1), false},
	{"root not first", `{"version":1,"entries":[{"path":"a","type":"dir","mode":448,"owner":"patron","group":"patron"}]}`, false},
}

func TestDecodeManifest(t *testing.T) {
	for _, c := range manifestCases {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeManifest([]byte(c.in))
			if c.ok != (err == nil) {
				t.Fatalf("DecodeManifest err = %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrManifest) {
				t.Fatalf("error %v does not wrap ErrManifest", err)
			}
			if err == nil && len(m.Entries) != 4 {
				t.Fatalf("entries = %d", len(m.Entries))
			}
		})
	}
}

func FuzzDecodeManifest(f *testing.F) {
	for _, c := range manifestCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			return
		}
		// A manifest that decodes must survive a round trip unchanged, and its paths
		// must all stay inside the tree.
		var buf bytes.Buffer
		if err := m.Encode(&buf); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := DecodeManifest(buf.Bytes())
		if err != nil {
			t.Fatalf("decode of re-encoded manifest: %v", err)
		}
		if len(m2.Entries) != len(m.Entries) {
			t.Fatal("round trip changed the entries")
		}
		for _, e := range m.Entries {
			if filepath.IsAbs(e.Path) || strings.Contains("/"+e.Path+"/", "/../") {
				t.Fatalf("unsafe path accepted: %q", e.Path)
			}
		}
	})
}
