//go:build windows

package hubservice

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

func checkAdmin() error {
	if windows.GetCurrentProcessToken().IsElevated() {
		return nil
	}
	return ErrNotAdmin
}

// serviceOnlySDDL grants full control to SYSTEM and Administrators only, and
// blocks inheritance from %ProgramData% (where Users may read).
const serviceOnlySDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// ensureDataDir creates the data directory and gives it a protected access
// list: SYSTEM and Administrators only (the CA key lives there).
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	sd, err := windows.SecurityDescriptorFromString(serviceOnlySDDL)
	if err != nil {
		return fmt.Errorf("parse SDDL: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("parse SDDL: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("protect %s: %w", dir, err)
	}
	return nil
}
