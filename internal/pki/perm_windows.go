//go:build windows

package pki

import (
	"fmt"
	"os"
)

// CheckPrivateDir checks only that dir is a directory: on Windows the ACL is not
// inspected yet (2026-11); the installer must create it readable by SYSTEM and
// Administrators only.
func CheckPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("check data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("check data dir: %s is not a directory", dir)
	}
	return nil
}

// CheckPrivateFile checks only that path is a regular file (ACLs: see CheckPrivateDir).
func CheckPrivateFile(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("key file %s is not a regular file", path)
	}
	return nil
}
