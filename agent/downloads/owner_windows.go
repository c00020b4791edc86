//go:build windows

package downloads

import (
	"fmt"
	"os"
	"path/filepath"
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

// checkPrivateDir refuses a directory whose DACL is not the protected one.
func checkPrivateDir(path string, _ os.FileInfo) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("quarantine %s: read ACL: %w", path, err)
	}
	s := sd.String()
	if !strings.HasPrefix(s, "D:P") || strings.Contains(s, ";;;WD)") || strings.Contains(s, ";;;BU)") || strings.Contains(s, ";;;AU)") {
		return fmt.Errorf("quarantine %s: ACL %s lets others in: %w", path, s, errWeakDir)
	}
	return nil
}

// sameVolume reports whether a and b are on the same drive.
func sameVolume(a, b string) bool {
	return strings.EqualFold(filepath.VolumeName(a), filepath.VolumeName(b))
}
