package repocheck

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/carrel-kiosk/carrel"

var update = flag.Bool("update", false, "record the dated notes as re-read (after reading them)")

// root is the module's top directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", dir, err)
	}
	return dir
}

// imports lists every package of the module with its non-test imports, for the
// three OSes the agent ships on.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, goos := range []string{"linux", "windows", "darwin"} {
		cmd := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
		cmd.Dir = root(t)
		cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (%s): %v", goos, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			for _, imp := range f[1:] {
				if !slices.Contains(out[f[0]], imp) {
					out[f[0]] = append(out[f[0]], imp)
				}
			}
			if _, ok := out[f[0]]; !ok {
				out[f[0]] = nil
			}
		}
	}
	return out
}

func under(pkg, dir string) bool {
	p := module + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// TestLayering checks who may import whom. Test files may import the rigs; no
// shipped package may, and the shared internal/ packages sit below agent/ and
// console/, never importing them.
func TestLayering(t *testing.T) {
	rules := []struct {
		from, to string
		why      string
		except   string
	}{
		{"agent", "internal/testrig", "a shipped package imports a test rig", ""},
		{"console", "internal/testrig", "a shipped package imports a test rig", ""},
		{"cmd/carrel-agent", "internal/testrig", "a shipped program imports a test rig", ""},
		{"cmd/carrel-hub", "internal/testrig", "a shipped program imports a test rig", ""},
		{"cmd/carrel-console", "internal/testrig", "a shipped program imports a test rig", ""},
		{"installer", "internal/testrig", "a shipped package imports a test rig", ""},
		{"internal", "agent", "internal/ is below agent/", "internal/testrig"},
		{"internal", "console", "internal/ is below console/", "internal/testrig"},
		{"console", "agent", "the console never imports the agent (STYLE.md)", ""},
		{"agent", "console", "the agent never imports the console", ""},
		{"internal/staffapi", "internal/hub", "the staff API sees the hub only through staffapi.Hub", ""},
		{"internal/wsserve", "internal/hub", "wsserve is below both of the hub's servers", ""},
		{"internal/wsserve", "internal/staffapi", "wsserve is below both of the hub's servers", ""},
		{"internal/store", "internal/hub", "the store is below the hub", ""},
	}
	found := 0
	for pkg, imps := range imports(t) {
		found++
		for _, r := range rules {
			if !under(pkg, r.from) || (r.except != "" && under(pkg, r.except)) {
				continue
			}
			for _, imp := range imps {
				if under(imp, r.to) {
					t.Errorf("%s imports %s: %s", pkg, imp, r.why)
				}
			}
		}
	}
	if found < 30 {
		t.Fatalf("go list found only %d packages; the check read nothing useful", found)
	}
}

// TestNoInitInCmd: a program is assembled in one function that reads top to
// bottom, so nothing in cmd/ registers itself from an init function.
func TestNoInitInCmd(t *testing.T) {
	re := regexp.MustCompile(`(?m)^func init\(\)`)
	n := 0
	filepath.WalkDir(filepath.Join(root(t), "cmd"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if re.Match(b) {
			t.Errorf("%s has an init function", p)
		}
		return nil
	})
	if n == 0 {
		t.Fatal("no Go files under cmd/")
	}
}

// datedNote matches a note that carries the month it was true, "(2026-11)".
var datedNote = regexp.MustCompile(`\(20\d\d-\d\d(-\d\d)?[),;:]`)

type note struct {
	file string // relative to the root
	line int
	text string
}

// datedNotes finds every dated note: in Go comments (any file of a package, tests
// included) and in README.md.
func datedNotes(t *testing.T, top string) map[string][]note {
	t.Helper()
	byDir := map[string][]note{}
	err := filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" || rel == "artifacts" || rel == "dist" || rel == "bin" {
				return filepath.SkipDir
			}
			return nil
		}
		isGo := strings.HasSuffix(p, ".go")
		if !isGo && rel != "README.md" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if isGo {
				i := strings.Index(line, "//")
				if i < 0 {
					continue
				}
				line = line[i:]
			}
			if datedNote.MatchString(line) {
				key := filepath.ToSlash(filepath.Dir(rel))
				if !isGo {
					key = rel
				}
				byDir[key] = append(byDir[key], note{filepath.ToSlash(rel), n, strings.TrimSpace(line)})
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return byDir
}

// stamp is what a re-reading is recorded against: for a package, the hash of
// its non-test Go files (a change to the code makes its notes due again); for
// README.md, the hash of its dated lines themselves.
func stamp(t *testing.T, top, key string, notes []note) string {
	t.Helper()
	h := sha256.New()
	if key == "README.md" {
		for _, n := range notes {
			fmt.Fprintln(h, n.text)
		}
	} else {
		files, _ := filepath.Glob(filepath.Join(top, filepath.FromSlash(key), "*.go"))
		sort.Strings(files)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s\n%d\n", filepath.Base(f), len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

const recordFile = "testdata/dated-notes.txt"

// TestDatedNotesReRead lists every dated note and fails when the package it
// describes has changed since the notes were last recorded as re-read: a dated
// limitation is a promise to check it again when its code moves. After reading
// (and correcting) the notes it lists, record them:
//
//	go test ./internal/repocheck -run DatedNotes -update
func TestDatedNotesReRead(t *testing.T) {
	top := root(t)
	byKey := datedNotes(t, top)
	if len(byKey) == 0 {
		t.Fatal("found no dated notes at all; the scan is broken")
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var rec bytes.Buffer
	fmt.Fprintln(&rec, "# Dated notes recorded as re-read: <package or file> <stamp> <notes>. Written by")
	fmt.Fprintln(&rec, "# `go test ./internal/repocheck -run DatedNotes -update`; do not edit by hand.")
	now := map[string]string{}
	for _, k := range keys {
		s := stamp(t, top, k, byKey[k])
		now[k] = s
		fmt.Fprintf(&rec, "%s %s %d\n", k, s, len(byKey[k]))
	}
	if *update {
		if err := os.WriteFile(recordFile, rec.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old := map[string]string{}
	b, err := os.ReadFile(recordFile)
	if err != nil {
		t.Fatalf("read %s: %v (run with -update after reading the notes)", recordFile, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(line, "#") {
			old[f[0]] = f[1]
		}
	}
	for _, k := range keys {
		if old[k] == now[k] {
			continue
		}
		var msg strings.Builder
		fmt.Fprintf(&msg, "%s changed since its dated notes were last re-read; read each, make it true today, then run `go test ./internal/repocheck -run DatedNotes -update`:", k)
		for _, n := range byKey[k] {
			fmt.Fprintf(&msg, "\n  %s:%d: %s", n.file, n.line, n.text)
		}
		t.Error(msg.String())
	}
}
