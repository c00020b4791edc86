package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlainReason(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"corrupt compound file (read header: EOF)", "damaged Office file: it cannot be checked, so it was not kept"},
		{`corrupt compound file (read header: EOF) inside "a.zip/b.doc"`, `damaged Office file inside "a.zip/b.doc": it cannot be checked, so it was not kept`},
		{"corrupt zip archive", "damaged zip archive: it cannot be checked, so it was not kept"},
		{"corrupt zip archive (zip: not a valid zip file)", "damaged zip archive: it cannot be checked, so it was not kept"},
		{"corrupt or truncated data (unexpected EOF) inside a.tar.gz", "damaged or incomplete file inside a.tar.gz: it cannot be checked, so it was not kept"},
		{"encrypted Office document cannot be inspected", "password-protected Office file: it cannot be checked, so it was not kept"},
		{"Windows program (PE)", "Windows program (PE)"},
		{"no executable content found", "no executable content found"},
		{"corrupt zip archives are fine", "corrupt zip archives are fine"}, // not the classifier's wording: left alone
	} {
		if got := plainReason(c.in); got != c.want {
			t.Errorf("plainReason(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestScanTable runs the subcommand in process: a corrupt .doc, a program, a
// document and a file that is not there, as a person sees them.
func TestScanTable(t *testing.T) {
	dir := t.TempDir()
	pe := make([]byte, 0x100)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	for name, b := range map[string][]byte{
		"letter.doc":  []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
		"invoice.pdf": pe,
		"notes.txt":   []byte("plain text\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gone := filepath.Join(dir, "gone.pdf")
	_, err := os.Lstat(gone)
	var perr *fs.PathError
	if !errors.As(err, &perr) {
		t.Fatalf("lstat %s: %v", gone, err)
	}
	var out, errb bytes.Buffer
	code := runScan(context.Background(), []string{dir, gone}, &out, &errb)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a file could not be read)", code)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	want := [][]string{
		{"VERDICT", "FILE", "WHY"},
		{"not kept", filepath.Join(dir, "invoice.pdf"), "Windows program (PE)"},
		{"not kept", filepath.Join(dir, "letter.doc"), "damaged Office file: it cannot be checked, so it was not kept"},
		{"kept", filepath.Join(dir, "notes.txt"), "no executable content found"},
		{"not kept", gone, "could not be read: " + perr.Err.Error()},
		nil,
		{"4 files: 1 kept, 3 not kept"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	col := strings.Index(lines[0], "FILE")
	why := strings.Index(lines[0], "WHY")
	for i, w := range want {
		l := lines[i]
		switch {
		case len(w) == 3:
			if len(l) < why || strings.TrimSpace(l[:col]) != w[0] || strings.TrimSpace(l[col:why]) != w[1] || l[why:] != w[2] {
				t.Errorf("line %d = %q, want columns %q", i, l, w)
			}
		case len(w) == 1:
			if l != w[0] {
				t.Errorf("line %d = %q, want %q", i, l, w[0])
			}
		default:
			if l != "" {
				t.Errorf("line %d = %q, want a blank line", i, l)
			}
		}
	}

	// --json is what scripts read: the classifier's own reason, one object a line.
	out.Reset()
	if code := runScan(context.Background(), []string{"--json", filepath.Join(dir, "letter.doc")}, &out, &errb); code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	if got, wantJSON := out.String(), `{"path":"`+filepath.Join(dir, "letter.doc")+`","verdict":"block","reason":"corrupt compound file (read header: EOF)","sha256":"6dda1524c96123bdeaba431bb8bcf4eaae977606559d411919ffdda50edf3efe","size":8,"kind":"ole"}`+"\n"; got != wantJSON {
		t.Errorf("--json = %s, want %s", got, wantJSON)
	}
}

func TestPrintablePath(t *testing.T) {
	sep := string(os.PathSeparator)
	in := strings.Join([]string{"", "home", "p\u202Eat", "a\tb.txt"}, sep)
	want := strings.Join([]string{"", "home", `p\u202eat`, `a\x09b.txt`}, sep)
	if got := printablePath(in); got != want {
		t.Errorf("printablePath(%q) = %q, want %q", in, got, want)
	}
}
