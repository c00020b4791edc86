package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureStateDirCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(tempDir(t), "a", "state")
	if err := EnsureStateDir(dir); err != nil {
		t.Fatal(err)
	}
	// A file created inside (as the agent does) keeps the directory acceptable.
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckStateDir(dir); err != nil {
		t.Fatalf("fresh state dir refused: %v", err)
	}
	// Idempotent.
	if err := EnsureStateDir(dir); err != nil {
		t.Fatal(err)
	}
}

func TestCheckStateDirRefusesSymlink(t *testing.T) {
	dir := filepath.Join(tempDir(t), "state")
	if err := EnsureStateDir(dir); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(os.TempDir(), link); err != nil {
		t.Skipf("symlinks not available here: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Skip("this system makes no real symlink (Wine); needs real Windows")
	}
	if err := CheckStateDir(dir); !errors.Is(err, ErrInsecureStateDir) {
		t.Fatalf("symlink accepted: %v", err)
	}
}
