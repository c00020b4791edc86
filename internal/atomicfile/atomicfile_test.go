package atomicfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, s := range []string{"one", "two, longer", "3"} {
		if err := atomicfile.WriteFile(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != s {
			t.Fatalf("read %q, %v; want %q", b, err, s)
		}
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want 0640 (not masked by the umask)", fi.Mode().Perm())
		}
	}
	onlyFile(t, dir, "state.json")
}

func TestCleanupLeavesTarget(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := atomicfile.New(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half"))
	if err := f.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := f.Cleanup(); err != nil {
		t.Fatal("second Cleanup:", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Errorf("target %q after Cleanup, want old", b)
	}
	onlyFile(t, dir, "x")
}

func TestCommitThenCleanup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	f, err := atomicfile.New(p, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Cleanup()
	f.Write([]byte("new"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	f.Cleanup()
	b, _ := os.ReadFile(p)
	if string(b) != "new" {
		t.Errorf("target %q, want new", b)
	}
	onlyFile(t, dir, "x")
}

func TestWriteFileMissingDir(t *testing.T) {
	err := atomicfile.WriteFile(filepath.Join(t.TempDir(), "no", "x"), nil, 0o600)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v, want ErrNotExist", err)
	}
}

func TestRenameAcrossDirs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o700)
	os.Mkdir(b, 0o700)
	if err := os.WriteFile(filepath.Join(a, "f"), []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "f"), []byte("2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Rename(filepath.Join(a, "f"), filepath.Join(b, "f")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(b, "f"))
	if string(got) != "1" {
		t.Errorf("got %q, want 1", got)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		t.Error(err)
	}
}

func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Name() != name {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s (a temporary file left?)", names, name)
	}
}
