//go:build windows

package wipe

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/windows"
)

// Windows has no mode bits: os.Mkdir's 0700 means nothing there, and a new
// directory inherits its parent's DACL. These set the DACLs the engine needs.
// The security descriptors are written with SetKernelObjectSecurity on handles
// opened without following reparse points, so nothing is propagated by name
// and nothing outside the tree is touched.

// trashSDDL: only SYSTEM and Administrators, inherited by everything below.
const trashSDDL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// restrictDir gives dir (the trash root) a protected DACL that lets only SYSTEM
// and Administrators in, inherited by what is created below it afterwards, so no
// patron can list the trash nor read the staging profile. A profile renamed
// into the trash keeps its own DACL (see doc.go).
func restrictDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(trashSDDL)
	if err != nil {
		return fmt.Errorf("trash DACL: %w", err)
	}
	h, err := openDirNoFollow(dir, windows.WRITE_DAC|windows.READ_CONTROL)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.SetKernelObjectSecurity(h, windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, sd); err != nil {
		return fmt.Errorf("restrict %s to SYSTEM and Administrators: %w", strconv.Quote(dir), err)
	}
	return nil
}

// profileSDDL returns the security descriptors of a profile built for sid: the
// root (owner the patron; a protected DACL granting full control to SYSTEM,
// Administrators and the patron, inherited below, as Windows gives a new
// profile), and what its directories and files inherit from it.
func profileSDDL(sid string) (root, dir, file string) {
	aces := func(flags string) string {
		return "(A;" + flags + ";FA;;;SY)(A;" + flags + ";FA;;;BA)(A;" + flags + ";FA;;;" + sid + ")"
	}
	return "O:" + sid + "D:PAI" + aces("OICI"), "O:" + sid + "D:AI" + aces("OICIID"), "O:" + sid + "D:AI" + aces("ID")
}

// giveHome makes dir, a profile just built from the template, the patron's:
// every entry gets the patron as owner and the DACL of profileSDDL. Setting an
// owner other than the agent's own account needs SeRestorePrivilege, which the
// service (LocalSystem) holds; it is enabled here.
func giveHome(dir string, uid int) error {
	sid, err := sidOfUID(uid)
	if err != nil {
		return err
	}
	if err := enablePrivilege("SeRestorePrivilege"); err != nil {
		return err
	}
	rootS, dirS, fileS := profileSDDL(sid.String())
	var sds [3]*windows.SECURITY_DESCRIPTOR
	for i, s := range []string{rootS, dirS, fileS} {
		if sds[i], err = windows.SecurityDescriptorFromString(s); err != nil {
			return fmt.Errorf("profile security descriptor: %w", err)
		}
	}
	const info = windows.OWNER_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION
	h, err := openDirNoFollow(dir, windows.WRITE_DAC|windows.WRITE_OWNER|windows.READ_CONTROL|windows.FILE_LIST_DIRECTORY)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.SetKernelObjectSecurity(h, info|windows.PROTECTED_DACL_SECURITY_INFORMATION, sds[0]); err != nil {
		return fmt.Errorf("give profile %s to %s: %w", strconv.Quote(dir), sid, err)
	}
	return giveTree(h, dir, sds[1], sds[2], 0)
}

func giveTree(h windows.Handle, display string, dirSD, fileSD *windows.SECURITY_DESCRIPTOR, depth int) error {
	if depth > maxWinDepth {
		return fmt.Errorf("%s: deeper than the profile is walked", strconv.Quote(display))
	}
	ents, err := listDir(h)
	if err != nil {
		return fmt.Errorf("read %s: %w", strconv.Quote(display), err)
	}
	for _, e := range ents {
		p := display + `\` + e.name
		isDir := e.attrs&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && e.attrs&windows.FILE_ATTRIBUTE_REPARSE_POINT == 0
		access := uint32(windows.WRITE_DAC | windows.WRITE_OWNER | windows.READ_CONTROL)
		if isDir {
			access |= windows.FILE_LIST_DIRECTORY
		}
		ch, err := openRelativeFor(h, e.name, access)
		if err != nil {
			return fmt.Errorf("open %s: %w", strconv.Quote(p), err)
		}
		var fi windows.ByHandleFileInformation
		err = windows.GetFileInformationByHandle(ch, &fi)
		if err == nil {
			dirNow := fi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT == 0
			switch {
			case dirNow != isDir:
				err = errors.New("changed type while it was walked")
			case dirNow:
				if err = windows.SetKernelObjectSecurity(ch, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION, dirSD); err == nil {
					err = giveTree(ch, p, dirSD, fileSD, depth+1)
				}
			default: // a file, or a reparse point itself (never followed)
				err = windows.SetKernelObjectSecurity(ch, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION, fileSD)
			}
		}
		windows.CloseHandle(ch)
		if err != nil {
			return fmt.Errorf("give %s to the patron: %w", strconv.Quote(p), err)
		}
	}
	return nil
}

// openDirNoFollow opens the directory dir itself for access; a reparse point or
// a non-directory is refused.
func openDirNoFollow(dir string, access uint32) (windows.Handle, error) {
	p16, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	h, err := windows.CreateFile(p16, access|windows.FILE_READ_ATTRIBUTES|windows.SYNCHRONIZE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", strconv.Quote(dir), err)
	}
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		windows.CloseHandle(h)
		return 0, fmt.Errorf("stat %s: %w", strconv.Quote(dir), err)
	}
	if fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 || fi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY == 0 {
		windows.CloseHandle(h)
		return 0, fmt.Errorf("%s is not a plain directory", strconv.Quote(dir))
	}
	return h, nil
}

// enablePrivilege enables a privilege the process token holds. A privilege the
// token lacks is not an error here (AdjustTokenPrivileges succeeds with
// ERROR_NOT_ALL_ASSIGNED); the call that needs it then fails with access
// denied, which is reported.
func enablePrivilege(name string) error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("open process token: %w", err)
	}
	defer tok.Close()
	var luid windows.LUID
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return err
	}
	if err := windows.LookupPrivilegeValue(nil, n, &luid); err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	tp := windows.Tokenprivileges{PrivilegeCount: 1}
	tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
	if err := windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil); err != nil && !errors.Is(err, windows.ERROR_NOT_ALL_ASSIGNED) {
		return fmt.Errorf("enable %s: %w", name, err)
	}
	return nil
}
