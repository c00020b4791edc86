//go:build unix

package session

import (
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

func TestConsoleSession(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody account")
	}
	path := filepath.Join(t.TempDir(), "console")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := consoleSession(path); err != nil || len(got) != 0 {
		t.Fatalf("root-owned console = %+v, %v; want nobody logged on", got, err)
	}
	if err := os.Chown(path, atoi(t, nobody.Uid), -1); err != nil {
		t.Fatal(err)
	}
	got, err := consoleSession(path)
	if err != nil || len(got) != 1 || got[0].User != "nobody" || got[0].UID != nobody.Uid || got[0].ID != "console" {
		t.Fatalf("console owned by nobody = %+v, %v", got, err)
	}
	if err := os.Chown(path, 4000123, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := consoleSession(path); err == nil {
		t.Fatal("console owned by an unknown uid: no error")
	}
	if _, err := consoleSession(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing console: no error")
	}
}

func atoi(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("bad number %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
