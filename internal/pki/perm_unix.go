//go:build unix

package pki

import (
	"fmt"
	"os"
)

// CheckPrivateDir refuses a data directory that is not a directory or that group
// or others can access: it must be mode 0700.
func CheckPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("check data dir: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("data dir %s has mode %04o; it must be 0700 (run: chmod 700 %s)", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// CheckPrivateFile refuses a key file that group or others can access: it must
// be mode 0600 (or stricter) and a regular file.
func CheckPrivateFile(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("key file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("key file %s has mode %04o; it must be 0600 (run: chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}
