package config

import (
	"fmt"
	"io/fs"
	"path/filepath"
)

// EnsureStateDir creates dir, if it does not exist, private to the service
// (unix: mode 0700; Windows: a protected DACL for SYSTEM and Administrators only),
// then checks it with CheckStateDir. An existing directory is never loosened or
// tightened: if it is too open the agent refuses, and IT fixes it.
func EnsureStateDir(dir string) error {
	if err := ensureStateDir(dir); err != nil {
		return fmt.Errorf("create state dir %s: %w", dir, err)
	}
	return CheckStateDir(dir)
}

// CheckStateDir refuses (with an error matching ErrInsecureStateDir that tells IT
// what to run) a state directory, or any file below it, that users other than the
// service could read or write: unix mode bits for group/others, or a Windows DACL
// entry granting Everyone, Users or Authenticated Users. Symbolic links inside the
// directory are refused too.
func CheckStateDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("check state dir: %w", err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s is a symbolic link; remove it", ErrInsecureStateDir, p)
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("check state dir: %w", err)
		}
		return checkPrivate(dir, p, info)
	})
}
