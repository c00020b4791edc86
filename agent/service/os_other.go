//go:build !linux && !windows && !darwin

package service

// DefaultPaths is the Linux layout; nothing else works on this OS.
func DefaultPaths() Paths { return LinuxPaths }

func checkAdmin() error { return ErrNotImplemented }

func ensureDirs(Paths) error { return ErrNotImplemented }

type noStore struct{}

func newPreseedStore(Paths) preseedStore { return noStore{} }

func (noStore) String() string         { return "(none)" }
func (noStore) Load() (Preseed, error) { return Preseed{}, ErrNotImplemented }
func (noStore) Save(Preseed) error     { return ErrNotImplemented }
func (noStore) Remove() error          { return ErrNotImplemented }

// installedVersion: only the MSI records one.
func installedVersion() (string, error) { return "", ErrNotImplemented }
