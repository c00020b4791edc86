//go:build linux

package wipe

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPurgeHelperNoDAC purges the directory in CARREL_WIPE_NODAC_DIR and prints
// the result; TestReadOnlyDirsWithoutDACOverride runs it without
// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH.
func TestPurgeHelperNoDAC(t *testing.T) {
	dir := os.Getenv("CARREL_WIPE_NODAC_DIR")
	if dir == "" {
		t.Skip("helper process for TestReadOnlyDirsWithoutDACOverride")
	}
	res := purgeTree(context.Background(), dir, purgeOpts{onlyUID: -1, chmodUID: patronUID, retries: 2, maxLeft: 50})
	b, _ := json.Marshal(res)
	os.Stdout.Write(append([]byte("RESULT "), append(b, '\n')...))
}

// Without the capabilities that let root ignore permissions, read-only and
// unreadable directories of the patron inside the trash are opened up (chmod on
// directories only) and purged; files, including a read-only hard link to an
// outside file, keep their modes; a read-only directory of someone else is not
// touched and is reported.
func TestReadOnlyDirsWithoutDACOverride(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed")
	}
	s := newSandbox(t, t.TempDir())
	s.build(t)
	trash := filepath.Join(s.root, "trash")
	mkdir(t, trash, 0o700, 0, 0)
	item := filepath.Join(trash, "home")
	mkdir(t, item, 0o700, patronUID, patronGID)
	mkdir(t, filepath.Join(item, "ro"), 0o700, patronUID, patronGID)
	mkdir(t, filepath.Join(item, "ro", "sealed"), 0o700, patronUID, patronGID)
	writeFile(t, filepath.Join(item, "ro", "sealed", "f"), "x", 0o000, patronUID, patronGID)
	writeFile(t, filepath.Join(item, "ro", "f"), "x", 0o400, patronUID, patronGID)
	if err := os.Link(filepath.Join(s.outside, "shadow"), filepath.Join(item, "ro", "hard")); err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(item, "staffs"), 0o700, otherUID, otherUID)
	writeFile(t, filepath.Join(item, "staffs", "g"), "x", 0o600, otherUID, otherUID)
	os.Chmod(filepath.Join(item, "ro", "sealed"), 0o000)
	os.Chmod(filepath.Join(item, "ro"), 0o555)
	os.Chmod(filepath.Join(item, "staffs"), 0o555)
	outside := snapshot(t, s.outside)

	cmd := exec.Command("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search",
		os.Args[0], "-test.run=^TestPurgeHelperNoDAC$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "CARREL_WIPE_NODAC_DIR="+item)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var res purgeResult
	for _, line := range splitLines(string(out)) {
		if len(line) > 7 && line[:7] == "RESULT " {
			if err := json.Unmarshal([]byte(line[7:]), &res); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("result: %+v", res)
	if res.Files != 3 {
		t.Errorf("removed %d files, want the patron's 3", res.Files)
	}
	if len(res.Leftovers) == 0 {
		t.Fatal("someone else's read-only directory was purged or not reported")
	}
	if _, err := os.Lstat(filepath.Join(item, "ro")); !os.IsNotExist(err) {
		t.Errorf("patron's read-only directory survived: %v", err)
	}
	info, err := os.Stat(filepath.Join(item, "staffs"))
	if err != nil || info.Mode().Perm() != 0o555 {
		t.Errorf("staff directory changed: %v %v", info, err)
	}
	if _, err := os.Stat(filepath.Join(item, "staffs", "g")); err != nil {
		t.Errorf("staff file removed: %v", err)
	}
	sameSnapshot(t, "outside canary (mode of the hard-linked file)", outside, snapshot(t, s.outside))
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
