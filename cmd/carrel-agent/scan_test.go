package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildAgent builds the real carrel-agent binary once per test binary run.
func buildAgent(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "carrel-agent")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type scanOut struct {
	Path    string `json:"path"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Kind    string `json:"kind"`
	Error   string `json:"error"`
}

func runAgent(t *testing.T, bin string, args ...string) (lines []scanOut, raw, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		var l scanOut
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			if len(args) > 1 && args[1] == "--help" {
				break
			}
			t.Fatalf("output line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines, out.String(), errb.String(), code
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestScanEndToEnd(t *testing.T) {
	bin := buildAgent(t)
	dir := t.TempDir()
	pe := make([]byte, 0x100)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	pdf := []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
	files := map[string][]byte{
		"invoice.pdf":                   pe,
		"docs/Şəhər_xəritəsi.pdf":       pdf,
		"docs/deep/report\u202Efdp.exe": []byte("hello"),
		"docs/line\nbreak.txt":          []byte("hello"),
		"notes.txt":                     []byte("plain text\n"),
		"letter.doc":                    []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), // a compound file cut short
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "docs", "etc-link")); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ verdict, reason string }{
		"invoice.pdf":                   {"block", "Windows program (PE)"},
		"docs/Şəhər_xəritəsi.pdf":       {"allow", ""},
		"docs/deep/report\u202Efdp.exe": {"block", "U+202E"},
		"docs/line\nbreak.txt":          {"block", "control character"},
		"notes.txt":                     {"allow", ""},
		"letter.doc":                    {"block", "corrupt compound file (read header: EOF)"},
		"docs/etc-link":                 {"block", "symbolic link"},
	}

	t.Run("help", func(t *testing.T) {
		_, raw, _, code := runAgent(t, bin, "scan", "--help")
		if code != 0 || !strings.Contains(raw, "Usage: carrel-agent scan") || !strings.Contains(raw, "Exit status") {
			t.Errorf("scan --help: exit %d, output %q", code, raw)
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{{"scan"}, {"scan", "--bogus", dir}, {"scan", "--policy"}} {
			_, raw, stderr, code := runAgent(t, bin, args...)
			if code != 2 || raw != "" || stderr == "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, a message", args, code, raw, stderr)
			}
		}
	})
	t.Run("tree", func(t *testing.T) {
		lines, raw, stderr, code := runAgent(t, bin, "scan", "--json", dir)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		if strings.ContainsRune(raw, '\u202E') {
			t.Error("raw output carries a bidi control character: JSON must escape it")
		}
		if len(lines) != len(want) {
			t.Fatalf("%d lines for %d files:\n%s", len(lines), len(want), raw)
		}
		for _, l := range lines {
			rel, err := filepath.Rel(dir, l.Path)
			if err != nil || !strings.HasPrefix(l.Path, dir) {
				t.Errorf("path %q is not under the argument %q", l.Path, dir)
				continue
			}
			w, ok := want[rel]
			if !ok {
				t.Errorf("unexpected path %q", rel)
				continue
			}
			if l.Verdict != w.verdict || !strings.Contains(l.Reason, w.reason) || l.Error != "" {
				t.Errorf("%q: %+v, want %s %q", rel, l, w.verdict, w.reason)
			}
			if b, ok := files[rel]; ok && l.SHA256 != hexSum(b) {
				t.Errorf("%q: sha256 %s, want %s", rel, l.SHA256, hexSum(b))
			}
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.pdf")
		lines, _, _, code := runAgent(t, bin, "scan", "--json", missing, filepath.Join(dir, "notes.txt"))
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if len(lines) != 2 || lines[0].Path != missing || lines[0].Error == "" || lines[0].Verdict != "block" ||
			lines[1].Verdict != "allow" || lines[1].Error != "" {
			t.Errorf("lines %+v: want the missing file with an error, then notes.txt allowed", lines)
		}
	})
	t.Run("table", func(t *testing.T) {
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, "scan", dir)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("scan: %v\n%s", err, errb.String())
		}
		raw := out.String()
		if strings.HasPrefix(raw, "{") || strings.ContainsRune(raw, '\u202E') || strings.Contains(raw, "line\nbreak") {
			t.Fatalf("table output carries JSON or a raw control character:\n%s", raw)
		}
		for _, want := range []string{
			"VERDICT", "FILE", "WHY",
			"damaged Office file: it cannot be checked, so it was not kept",
			`report\u202efdp.exe`, `line\x0abreak.txt`,
			"7 files: 2 kept, 5 not kept",
		} {
			if !strings.Contains(raw, want) {
				t.Errorf("table lacks %q:\n%s", want, raw)
			}
		}
		if strings.Contains(raw, "corrupt compound file") {
			t.Errorf("table shows the parser's reason, not the librarian's:\n%s", raw)
		}
	})
	t.Run("policy", func(t *testing.T) {
		pol := filepath.Join(t.TempDir(), "agent.toml")
		os.WriteFile(pol, []byte("[classify]\nblock_sha256 = [\""+hexSum(files["notes.txt"])+"\"]\nallow_sha256 = [\""+hexSum(pe)+"\"]\n"), 0o644)
		lines, _, stderr, code := runAgent(t, bin, "scan", "--json", "--policy", pol, filepath.Join(dir, "notes.txt"), filepath.Join(dir, "invoice.pdf"))
		if code != 0 || len(lines) != 2 {
			t.Fatalf("exit %d, %d lines, stderr %s", code, len(lines), stderr)
		}
		if lines[0].Verdict != "block" || !strings.Contains(lines[0].Reason, "block list") ||
			lines[1].Verdict != "allow" || !strings.Contains(lines[1].Reason, "allow list") {
			t.Errorf("policy not applied: %+v", lines)
		}
		for _, bad := range []string{"[classify]\nblock_sha256 = [\"xyz\"]\n", "[classify]\nmax_depht = 3\n", "not toml ["} {
			os.WriteFile(pol, []byte(bad), 0o644)
			if _, _, _, code := runAgent(t, bin, "scan", "--policy", pol, dir); code != 2 {
				t.Errorf("policy %q: exit %d, want 2", bad, code)
			}
		}
	})
}

func TestEscapeInvisible(t *testing.T) {
	in := []byte(`{"path":"a` + "\u202E" + `b` + "\u200B" + "\U000E0041" + `ş"}`)
	got := string(escapeInvisible(in))
	want := `{"path":"a\u202eb\u200b\udb40\udc41ş"}`
	if got != want {
		t.Fatalf("escapeInvisible = %s, want %s", got, want)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(got), &v); err != nil || v["path"] != "a\u202Eb\u200B\U000E0041ş" {
		t.Fatalf("escaped JSON decodes to %q, %v", v["path"], err)
	}
}
