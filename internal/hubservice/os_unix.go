//go:build !windows

package hubservice

import (
	"fmt"
	"os"
)

func checkAdmin() error {
	if os.Geteuid() != 0 {
		return ErrNotAdmin
	}
	return nil
}

// ensureDataDir creates the data directory 0700 (tightening it if it exists).
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("protect %s: %w", dir, err)
	}
	return nil
}
