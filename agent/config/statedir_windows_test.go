//go:build windows

package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

func mkdirSDDL(t *testing.T, dir, sddl string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	sa := windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(sa))
	p, _ := windows.UTF16PtrFromString(dir)
	if err := windows.CreateDirectory(p, &sa); err != nil {
		t.Fatal(err)
	}
}

func TestCheckStateDirRefusesPublicDACL(t *testing.T) {
	root := tempDir(t)
	for _, tc := range []struct{ name, sid string }{{"Everyone", "WD"}, {"Users", "BU"}, {"Authenticated Users", "AU"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, tc.sid)
			mkdirSDDL(t, dir, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FR;;;"+tc.sid+")")
			err := CheckStateDir(dir)
			if !errors.Is(err, ErrInsecureStateDir) || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), "icacls") {
				t.Fatalf("DACL granting %s accepted or unclear: %v", tc.name, err)
			}
		})
	}
}
