//go:build unix

package session

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLockFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := NewLockStore(dir).Save(LockState{Locked: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, LockFileName))
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("lock file mode %v, %v: want readable by the service only", fi.Mode(), err)
	}
}
