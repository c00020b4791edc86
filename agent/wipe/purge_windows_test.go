//go:build windows

package wipe

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
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

// TestOwnerSelectivePurgeWindows clears a shared temp dir of the patron's
// entries only: the owner of each entry is read from its open handle and
// compared with the patron's SID (here the test's own account); entries of
// another account stay, and so does a directory of another account, while the
// patron's entries inside it go. A patron's directory that holds an entry of
// another account is reported. A junction or symlink of the patron is removed
// itself, never followed.
func TestOwnerSelectivePurgeWindows(t *testing.T) {
	me, rid, _ := currentUser(t)
	root := tempDir(t)
	shared, outside := filepath.Join(root, "shared"), filepath.Join(root, "outside")
	writeFiles(t, shared, map[string]string{
		"mine.txt":              "patron",
		"mydir/a.txt":           "patron",
		"mydir/sub/b.txt":       "patron",
		"theirs.txt":            "staff",
		"theirdir/mine2.txt":    "patron",
		"theirdir/theirs2.txt":  "staff",
		"mixed/theirs3.txt":     "staff",
		"mixed/mine3.txt":       "patron",
		"theirdir/deep/m4.txt":  "patron",
		"theirdir/deep2/t4.txt": "staff",
	})
	writeFiles(t, outside, map[string]string{"canary.txt": "keep"})
	// Wine 8's CreateSymbolicLink reports success and creates nothing: count
	// the link only if it is there
	linked := os.Symlink(outside, filepath.Join(shared, "link-out")) == nil && exists(filepath.Join(shared, "link-out"))
	if !linked {
		t.Log("no symlink could be made here: the never-follow part is not shown")
	}
	j := filepath.Join(shared, "theirdir", "deep2")
	giveToOther(t, me, filepath.Join(shared, "theirs.txt"), filepath.Join(shared, "theirdir"),
		filepath.Join(shared, "theirdir", "theirs2.txt"), j, filepath.Join(j, "t4.txt"), filepath.Join(shared, "mixed", "theirs3.txt"))
	if !ownerOf(t, filepath.Join(shared, "mine.txt")).Equals(me) {
		t.Skip("files the test creates are not owned by its account here")
	}
	opts := purgeOpts{keepRoot: true, onlyUID: rid, chmodUID: -1, retries: 2, maxLeft: 50}
	dry := opts
	dry.dryRun = true
	leftPaths := func(r purgeResult) []string {
		var out []string
		for _, l := range r.Leftovers {
			p, err := strconv.Unquote(l.Path)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(shared, p)
			out = append(out, filepath.ToSlash(rel)+": "+l.Reason)
		}
		sort.Strings(out)
		return out
	}
	want := []string{
		"mine.txt: owned by the patron",
		"mixed: directory owned by the patron",
		"mydir: directory owned by the patron",
		"theirdir/deep: directory owned by the patron",
		"theirdir/mine2.txt: owned by the patron",
	}
	if linked {
		want = append(want, "link-out: owned by the patron")
		sort.Strings(want)
	}
	if got := leftPaths(purgeTree(context.Background(), shared, dry)); !slices.Equal(got, want) {
		t.Fatalf("dry run leftovers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	res := purgeTree(context.Background(), shared, opts)
	wantLeft := []string{"mixed: directory of the patron holds entries of others"}
	if got := leftPaths(res); !slices.Equal(got, wantLeft) {
		t.Fatalf("leftovers:\n%s\nwant %v", strings.Join(got, "\n"), wantLeft)
	}
	for _, gone := range []string{"mine.txt", "mydir", "theirdir/mine2.txt", "theirdir/deep", "mixed/mine3.txt", "link-out"} {
		if exists(filepath.Join(shared, filepath.FromSlash(gone))) {
			t.Errorf("%s is still there", gone)
		}
	}
	for _, kept := range []string{"theirs.txt", "theirdir/theirs2.txt", "theirdir/deep2/t4.txt", "mixed/theirs3.txt"} {
		if !exists(filepath.Join(shared, filepath.FromSlash(kept))) {
			t.Errorf("%s of another account was removed", kept)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "canary.txt")); err != nil || string(b) != "keep" {
		t.Fatalf("canary behind the link: %q %v", b, err)
	}
	// what is left is not the patron's, except the reported mixed directory
	if got := leftPaths(purgeTree(context.Background(), shared, dry)); !slices.Equal(got, []string{"mixed: directory owned by the patron"}) {
		t.Fatalf("dry run after the purge: %v", got)
	}
	// another patron (a RID nobody has) owns nothing here
	other := opts
	other.onlyUID = 64999
	if res := purgeTree(context.Background(), shared, other); len(res.Leftovers) != 0 || res.Files != 0 || res.Dirs != 0 ||
		!exists(filepath.Join(shared, "mixed")) {
		t.Fatalf("purge for another RID: %+v", res)
	}
}
