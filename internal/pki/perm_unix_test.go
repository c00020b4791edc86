//go:build unix

package pki

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPermissionsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "ca.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "must be 0600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
	os.Chmod(filepath.Join(dir, "ca.key"), 0o600)
	ca, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServerCertificate(nil); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "server.key"), 0o640)
	if _, err := ca.ServerCertificate(nil); err == nil || !strings.Contains(err.Error(), "must be 0600") {
		t.Fatalf("group-readable server key accepted: %v", err)
	}
	os.Chmod(dir, 0o755)
	if _, err := LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), "must be 0700") {
		t.Fatalf("0755 data dir accepted: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNoCA) {
		t.Fatalf("missing dir: %v, want ErrNoCA", err)
	}
}
