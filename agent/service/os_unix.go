//go:build linux || darwin

package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

func checkAdmin() error {
	if os.Geteuid() != 0 {
		return ErrNotAdmin
	}
	return nil
}

// ensureDirs creates the state and quarantine directories owned by root with
// mode 0700 (tightening them if they exist), and the config directory 0755.
func ensureDirs(p Paths) error {
	if err := os.MkdirAll(filepath.Dir(p.Config), 0o755); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	for _, d := range []string{p.StateDir, p.QuarantineDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
		if err := os.Lchown(d, 0, 0); err != nil {
			return fmt.Errorf("own %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("protect %s: %w", d, err)
		}
	}
	return nil
}

// fileStore keeps the preseed in a 0600 file.
type fileStore struct{ path string }

func newPreseedStore(p Paths) preseedStore { return fileStore{p.Preseed} }

func (s fileStore) String() string { return s.path }

func (s fileStore) Load() (Preseed, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return Preseed{}, nil
	}
	if err != nil {
		return Preseed{}, err
	}
	return ParsePreseed(data)
}

func (s fileStore) Save(p Preseed) error {
	return writeFileAtomic(s.path, p.Format(), 0o600)
}

func (s fileStore) Remove() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// installedVersion: only the MSI records one.
func installedVersion() (string, error) { return "", ErrNotImplemented }
