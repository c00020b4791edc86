//go:build !windows

package downloads

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExpandRootsSkipsLinksAndFiles(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "alice"), 0o755)
	os.Mkdir(filepath.Join(dir, "bob"), 0o755)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	if err := os.Symlink(filepath.Join(dir, "alice"), filepath.Join(dir, "link")); err != nil {
		t.Skipf("symlink: %v", err)
	}
	got := ExpandRoots([]string{filepath.Join(dir, "*"), filepath.Join(dir, "alice")})
	want := []string{filepath.Join(dir, "alice"), filepath.Join(dir, "bob")}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ExpandRoots = %v, want %v", got, want)
	}
}
