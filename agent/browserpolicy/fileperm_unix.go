//go:build unix

package browserpolicy

import (
	"io/fs"
	"os"
	"syscall"
)

// fileModeOK reports whether a policy file has the mode and owner Carrel gives
// it: 0644 and the agent's own user (root in production).
func fileModeOK(fi fs.FileInfo) bool {
	if fi.Mode().Perm() != 0o644 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// chownRoot gives a new policy file to root:root when the agent is root.
func chownRoot(f *os.File) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return f.Chown(0, 0)
}

// hardenDir removes group and world write from a policy directory, so nobody
// but root can drop a policy file next to Carrel's.
func hardenDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 == 0 {
		return nil
	}
	return os.Chmod(dir, fi.Mode().Perm()&^0o022)
}
