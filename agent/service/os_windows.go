//go:build windows

package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
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
		DataDir:       dir,
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
	for _, d := range []string{p.StateDir, p.QuarantineDir} {
		if _, err := os.Lstat(d); err != nil {
			// A new directory is created with its DACL in one call, as the
			// agent's own check expects.
			if err := config.EnsureStateDir(d); err != nil {
				return err
			}
			continue
		}
		// Not SetNamedSecurityInfo: Wine 8 ignores it on files and merges the
		// parent's entries into a directory's DACL.
		if privateEnough(d) != nil {
			if err := recreateDir(d, sd); err != nil {
				return fmt.Errorf("protect %s: %w", d, err)
			}
		}
		if err := reprotectTree(d, sd); err != nil {
			return err
		}
		if err := config.CheckStateDir(d); err != nil {
			return err
		}
	}
	return nil
}

// reprotectTree gives every entry below dir that is readable by a patron
// group the service-only DACL. Windows would have inherited it, but Wine 8
// gives new files a default DACL (Everyone may read) and ignores
// SetNamedSecurityInfo on files; it honours a security descriptor passed at
// creation. So such an entry is re-created with sd: a file is copied to a new
// file created with sd and renamed over the old one; a directory is re-created
// with sd and its entries moved into it.
func reprotectTree(dir string, sd *windows.SECURITY_DESCRIPTOR) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			continue // config.CheckStateDir refuses it
		}
		if e.IsDir() {
			if config.CheckStateDir(p) != nil && privateEnough(p) != nil {
				if err := recreateDir(p, sd); err != nil {
					return fmt.Errorf("protect %s: %w", p, err)
				}
			}
			if err := reprotectTree(p, sd); err != nil {
				return err
			}
			continue
		}
		if privateEnough(p) != nil {
			if err := recreateFile(p, sd); err != nil {
				return fmt.Errorf("protect %s: %w", p, err)
			}
		}
	}
	return nil
}

// privateEnough checks p alone (for a directory, not what is below it).
func privateEnough(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return config.CheckStateDir(p)
	}
	// CheckStateDir walks; check a directory through an empty sibling view:
	// its own DACL is what GetNamedSecurityInfo returns for it.
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return err
	}
	if strings.Contains(sd.String(), ";;;WD)") || strings.Contains(sd.String(), ";;;BU)") || strings.Contains(sd.String(), ";;;AU)") {
		return config.ErrInsecureStateDir
	}
	return nil
}

func securityAttributes(sd *windows.SECURITY_DESCRIPTOR) *windows.SecurityAttributes {
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	return sa
}

func recreateFile(p string, sd *windows.SECURITY_DESCRIPTOR) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	tmp := p + ".protect"
	name, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(name, windows.GENERIC_WRITE, 0, securityAttributes(sd), windows.CREATE_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(h), tmp)
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	return atomicfile.Rename(tmp, p)
}

func recreateDir(p string, sd *windows.SECURITY_DESCRIPTOR) error {
	tmp := p + ".protect"
	name, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	if err := windows.CreateDirectory(name, securityAttributes(sd)); err != nil {
		return err
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(p, e.Name()), filepath.Join(tmp, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	return os.Rename(tmp, p)
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

// installedVersion is the version the MSI recorded in HKLM\SOFTWARE\Carrel.
func installedVersion() (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, RegistryKey, registry.QUERY_VALUE)
	if err != nil {
		return "", err
	}
	defer k.Close()
	v, _, err := k.GetStringValue("Version")
	return v, err
}
