//go:build windows

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// mkdirSDDL makes dir and then sets its DACL from sddl, as an administrator
// loosening the state directory would (SetNamedSecurityInfo also works under Wine,
// where it becomes a chmod).
func mkdirSDDL(t *testing.T, dir, sddl string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCheckStateDirRefusesPublicDACL(t *testing.T) {
	root := tempDir(t)
	for _, tc := range []struct{ name, sid string }{{"Everyone", "WD"}, {"Users", "BU"}, {"Authenticated Users", "AU"}} {
		t.Run(tc.name, func(t *testing.T) {
			if underWine() && tc.sid != "WD" {
				t.Skip("Wine maps DACLs to unix mode bits and drops this entry; needs real Windows")
			}
			dir := filepath.Join(root, tc.sid)
			mkdirSDDL(t, dir, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FR;;;"+tc.sid+")")
			err := CheckStateDir(dir)
			if !errors.Is(err, ErrInsecureStateDir) || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), "icacls") {
				t.Fatalf("DACL granting %s accepted or unclear: %v", tc.name, err)
			}
		})
	}
}

// underWine reports whether the test runs under Wine, whose DACLs are a view of
// unix mode bits: only Everyone (the "others" bits) can be expressed there.
func underWine() bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}
