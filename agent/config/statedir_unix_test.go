//go:build linux || darwin

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckStateDirRefusesOpenModes(t *testing.T) {
	root := tempDir(t)
	cases := []struct {
		name              string
		dirMode, fileMode os.FileMode
		wantBad           string // path suffix named in the error; "" means accepted
	}{
		{"private", 0o700, 0o600, ""},
		{"dir 0755", 0o755, 0o600, "state"},
		{"dir group-writable", 0o770, 0o600, "state"},
		{"dir others execute", 0o701, 0o600, "state"},
		{"secret 0644", 0o700, 0o644, "key.pem"},
		{"secret group-read", 0o700, 0o640, "key.pem"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, strings.ReplaceAll(tc.name, " ", "_"), "state")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			key := filepath.Join(dir, "key.pem")
			if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(key, tc.fileMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			err := CheckStateDir(dir)
			if tc.wantBad == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInsecureStateDir) {
				t.Fatalf("accepted, err = %v", err)
			}
			if !strings.Contains(err.Error(), "chmod -R go-rwx "+dir) || !strings.Contains(err.Error(), tc.wantBad) {
				t.Fatalf("error does not tell IT what to fix: %v", err)
			}
		})
	}
}

func TestEnsureStateDirLeavesExistingOpenDirRefused(t *testing.T) {
	dir := filepath.Join(tempDir(t), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStateDir(dir); !errors.Is(err, ErrInsecureStateDir) {
		t.Fatalf("0755 state dir accepted: %v", err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o755 {
		t.Fatalf("EnsureStateDir changed an existing dir's mode to %o", fi.Mode().Perm())
	}
}

func TestCheckStateDirRefusesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := filepath.Join(tempDir(t), "state")
	if err := EnsureStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := CheckStateDir(dir); !errors.Is(err, ErrInsecureStateDir) || !strings.Contains(err.Error(), "chown") {
		t.Fatalf("foreign owner accepted: %v", err)
	}
}
