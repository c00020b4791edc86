//go:build windows

package downloads

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// privateSDDL grants full control to SYSTEM and Administrators only, protected
// from inheritance.
const privateSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// fileOwner: Windows has no uid/gid; the record says -1.
func fileOwner(os.FileInfo) (uid, gid int) { return -1, -1 }

// chownFile does nothing on Windows: a released file inherits its folder's ACL.
func chownFile(string, int, int) error { return nil }

// makePrivateDir creates dir with a protected DACL for SYSTEM and Administrators.
func makePrivateDir(path string) error {
	sd, err := windows.SecurityDescriptorFromString(privateSDDL)
	if err != nil {
		return err
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	if err := windows.CreateDirectory(p, sa); err != nil {
		if err == windows.ERROR_ALREADY_EXISTS {
			return os.ErrExist
		}
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return nil
}

// checkPrivateDir refuses a directory whose DACL lets anyone but SYSTEM,
// Administrators or the service's own account in (a missing DACL lets
// everyone in).
func checkPrivateDir(path string, _ os.FileInfo) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("quarantine %s: read ACL: %w", path, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return fmt.Errorf("quarantine %s: no DACL: %w", path, errWeakDir)
	}
	allowed := []*windows.SID{}
	for _, w := range []windows.WELL_KNOWN_SID_TYPE{windows.WinLocalSystemSid, windows.WinBuiltinAdministratorsSid} {
		if sid, err := windows.CreateWellKnownSid(w); err == nil {
			allowed = append(allowed, sid)
		}
	}
	if tu, err := windows.GetCurrentProcessToken().GetTokenUser(); err == nil {
		allowed = append(allowed, tu.User.Sid)
	}
	for i := uint32(0); ; i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			break
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue // deny entries only take access away
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !slices.ContainsFunc(allowed, sid.Equals) {
			return fmt.Errorf("quarantine %s: ACL %s lets %s in: %w", path, sd, sid, errWeakDir)
		}
	}
	return nil
}

// sameVolume reports whether a and b are on the same drive.
func sameVolume(a, b string) bool {
	return strings.EqualFold(filepath.VolumeName(a), filepath.VolumeName(b))
}

// openNoFollow opens path for reading without following a reparse point. It
// shares delete access, so the held file can be renamed into the quarantine,
// but not write access: the open fails while a writer has the file (errBusy;
// its next change raises another event) and no writer can open it while held.
func openNoFollow(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err == windows.ERROR_SHARING_VIOLATION {
		return nil, fmt.Errorf("open %s: %w", path, errBusy)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
