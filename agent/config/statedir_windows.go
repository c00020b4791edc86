//go:build windows

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// stateSDDL is a protected DACL (no inheritance from the parent) granting full
// control to SYSTEM and the Administrators group, inherited by files and subfolders.
const stateSDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

func ensureStateDir(dir string) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(stateSDDL)
	if err != nil {
		return fmt.Errorf("build security descriptor: %w", err)
	}
	sa := windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(sa))
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	if err := windows.CreateDirectory(p, &sa); err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		return err
	}
	return nil
}

// publicSIDs are the groups a patron belongs to; none may hold an allow entry.
var publicSIDs = []struct {
	kind windows.WELL_KNOWN_SID_TYPE
	name string
}{
	{windows.WinWorldSid, "Everyone"},
	{windows.WinBuiltinUsersSid, "Users"},
	{windows.WinAuthenticatedUserSid, "Authenticated Users"},
}

func checkPrivate(root, p string, _ fs.FileInfo) error {
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("read security of %s: %w", p, err)
	}
	fix := fmt.Sprintf(`run: icacls "%s" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F /remove:g *S-1-1-0 *S-1-5-32-545 *S-1-5-11 /T`, root)
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return fmt.Errorf("%w: %s has no access control list (everyone has access); %s", ErrInsecureStateDir, p, fix)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("read access entry %d of %s: %w", i, p, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		for _, pub := range publicSIDs {
			w, err := windows.CreateWellKnownSid(pub.kind)
			if err != nil {
				return fmt.Errorf("well-known sid %s: %w", pub.name, err)
			}
			if sid.Equals(w) {
				return fmt.Errorf("%w: %s grants access to %s; %s", ErrInsecureStateDir, p, pub.name, fix)
			}
		}
	}
	return nil
}
