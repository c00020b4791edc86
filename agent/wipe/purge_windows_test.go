//go:build windows

package wipe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tempDir makes a test directory without t.TempDir, whose os.RemoveAll cleanup
// fails under Wine; purgeTree removes it instead.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "carrel-wipe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		res := purgeTree(context.Background(), d, purgeOpts{onlyUID: -1, chmodUID: -1, retries: 2})
		for _, l := range res.Leftovers {
			t.Logf("left in the test's temp dir: %s: %s", l.Path, l.Reason)
		}
	})
	return d
}

func TestPurgeTreeWindows(t *testing.T) {
	root := tempDir(t)
	outside := filepath.Join(root, "outside")
	trash := filepath.Join(root, "trash")
	for _, d := range []string{outside, filepath.Join(trash, "a", "b", "c")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	canary := filepath.Join(outside, "canary.txt")
	if err := os.WriteFile(canary, []byte("keep"), 0o444); err != nil { // read-only attribute
		t.Fatal(err)
	}
	for _, f := range []string{"a/x.txt", "a/b/y.txt", "a/b/c/z.txt", "readonly.txt"} {
		if err := os.WriteFile(filepath.Join(trash, filepath.FromSlash(f)), []byte("patron"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(trash, "readonly.txt"), 0o444); err != nil {
		t.Fatal(err)
	}
	linked := false
	if err := os.Symlink(outside, filepath.Join(trash, "a", "link-to-outside")); err == nil {
		linked = true
	} else {
		t.Logf("no directory symlink here: %v", err)
	}
	res := purgeTree(context.Background(), trash, purgeOpts{onlyUID: -1, chmodUID: -1, retries: 2, maxLeft: 10})
	if dispositionExMissing.Load() {
		// no FileDispositionInfoEx (Wine 8, old Windows): the read-only file must be
		// reported, never have its attribute cleared; everything else goes
		t.Logf("FileDispositionInfoEx unsupported here; leftovers: %+v", res.Leftovers)
		if len(res.Leftovers) != 1 || !strings.Contains(res.Leftovers[0].Path, "readonly.txt") {
			t.Fatalf("leftovers: %+v", res.Leftovers)
		}
		info, err := os.Stat(filepath.Join(trash, "readonly.txt"))
		if err != nil || info.Mode().Perm()&0o200 != 0 {
			t.Fatalf("read-only file changed: %v %v", info, err)
		}
		// the test's own files, for cleanup
		os.Chmod(filepath.Join(trash, "readonly.txt"), 0o644)
		os.Chmod(canary, 0o644)
		return
	}
	if len(res.Leftovers) != 0 {
		t.Fatalf("leftovers: %+v", res.Leftovers)
	}
	if _, err := os.Lstat(trash); !os.IsNotExist(err) {
		t.Fatalf("trash still there: %v", err)
	}
	want := int64(4)
	if linked {
		want++
	}
	if res.Files != want {
		t.Fatalf("files removed = %d, want %d", res.Files, want)
	}
	b, err := os.ReadFile(canary)
	info, _ := os.Stat(canary)
	if err != nil || string(b) != "keep" || info.Mode().Perm()&0o200 != 0 {
		t.Fatalf("canary changed: %q %v %v", b, info.Mode(), err)
	}
	os.Chmod(canary, 0o644) // for cleanup
}
