package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScanFormats runs the real binary's scan over the classifier's
// hand-written format cases (agent/classify/testdata/formats) and checks
// each verdict and reason against formats.txt (issue 16 §5). It reads the
// JSON lines (--json, or the default output of a binary that has no --json
// yet), never the table meant for people.
func TestScanFormats(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "carrel-agent")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src := filepath.Join("..", "..", "agent", "classify", "testdata")
	list, err := os.ReadFile(filepath.Join(src, "formats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs(filepath.Join(src, "formats"))
	if err != nil {
		t.Fatal(err)
	}
	out, code := scanJSON(t, bin, dir)
	if code != 0 {
		t.Fatalf("scan exit %d:\n%s", code, out)
	}
	got := map[string]scanOut{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l scanOut
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		got[filepath.Base(l.Path)] = l
	}
	n := 0
	sc = bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		n++
		l, ok := got[f[0]]
		if !ok {
			t.Errorf("%s: not in scan's output", f[0])
			continue
		}
		if l.Verdict != f[1] || !strings.Contains(l.Reason, f[2]) || l.Error != "" {
			t.Errorf("%s: %s (%s), want %s with %q", f[0], l.Verdict, l.Reason, f[1], f[2])
		}
	}
	if n != len(got) || n < 10 {
		t.Errorf("formats.txt lists %d files, scan judged %d", n, len(got))
	}
}

// scanJSON runs `scan --json DIR`; a binary that does not know --json yet
// (exit 2, usage) prints JSON lines by default.
func scanJSON(t *testing.T, bin, dir string) ([]byte, int) {
	t.Helper()
	for _, args := range [][]string{{"scan", "--json", dir}, {"scan", dir}} {
		var stdout bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout = &stdout
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return stdout.Bytes(), 0
		case errors.As(err, &ee) && ee.ExitCode() == 2 && args[1] == "--json":
			continue
		case errors.As(err, &ee):
			return stdout.Bytes(), ee.ExitCode()
		default:
			t.Fatal(err)
		}
	}
	return nil, 2
}
