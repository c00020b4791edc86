//go:build windows

package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// DefaultPaths is the layout on this OS, under the ProgramData known folder
// (the MSI's CommonAppDataFolder). The known folder, not %ProgramData%: a
// service's environment may differ (under Wine it points at C:\users\Public).
func DefaultPaths() Paths {
	base, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || base == "" {
		base = `C:\ProgramData`
	}
	dir := filepath.Join(base, WindowsDataDir)
	return Paths{
		Config:        filepath.Join(dir, WindowsConfigName),
		StateDir:      filepath.Join(dir, WindowsStateName),
		QuarantineDir: filepath.Join(dir, WindowsQuarantineDir),
	}
}

func checkAdmin() error {
	if windows.GetCurrentProcessToken().IsElevated() {
		return nil
	}
	return ErrNotAdmin
}

// serviceOnlySDDL grants full control to SYSTEM and Administrators only, and
// blocks inheritance from %ProgramData% (where Users may read).
const serviceOnlySDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

func ensureDirs(p Paths) error {
	if err := os.MkdirAll(filepath.Dir(p.Config), 0o755); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(serviceOnlySDDL)
	if err != nil {
		return fmt.Errorf("parse SDDL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("read DACL: %w", err)
	}
	for _, d := range []string{p.StateDir, p.QuarantineDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
		err := windows.SetNamedSecurityInfo(d, windows.SE_FILE_OBJECT,
			windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
		if err != nil {
			return fmt.Errorf("protect %s: %w", d, err)
		}
	}
	return nil
}

// registryStore keeps the preseed in HKLM\SOFTWARE\Carrel, where the MSI
// writes its public properties.
type registryStore struct{}

func newPreseedStore(Paths) preseedStore { return registryStore{} }

func (registryStore) String() string { return `HKLM\` + RegistryKey }

func (registryStore) Load() (Preseed, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, RegistryKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return Preseed{}, nil
	}
	if err != nil {
		return Preseed{}, err
	}
	defer k.Close()
	get := func(name string) (string, error) {
		v, _, err := k.GetStringValue(name)
		if errors.Is(err, registry.ErrNotExist) {
			return "", nil
		}
		return v, err
	}
	var p Preseed
	if p.HubURL, err = get(RegHubURL); err != nil {
		return Preseed{}, err
	}
	if p.HubFingerprint, err = get(RegHubFingerprint); err != nil {
		return Preseed{}, err
	}
	if p.EnrollToken, err = get(RegEnrollToken); err != nil {
		return Preseed{}, err
	}
	return p, p.Validate()
}

func (registryStore) Save(p Preseed) error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, RegistryKey, registry.SET_VALUE|registry.QUERY_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	for _, v := range [][2]string{{RegHubURL, p.HubURL}, {RegHubFingerprint, p.HubFingerprint}, {RegEnrollToken, p.EnrollToken}} {
		if v[1] == "" {
			if err := k.DeleteValue(v[0]); err != nil && !errors.Is(err, registry.ErrNotExist) {
				return err
			}
			continue
		}
		if err := k.SetStringValue(v[0], v[1]); err != nil {
			return err
		}
	}
	return nil
}

func (registryStore) Remove() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, RegistryKey, registry.SET_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, v := range []string{RegHubURL, RegHubFingerprint, RegEnrollToken} {
		if err := k.DeleteValue(v); err != nil && !errors.Is(err, registry.ErrNotExist) {
			k.Close()
			return err
		}
	}
	k.Close()
	// The key goes too when nothing else (e.g. the MSI's own values) is in it.
	if err := registry.DeleteKey(registry.LOCAL_MACHINE, RegistryKey); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	return nil
}
