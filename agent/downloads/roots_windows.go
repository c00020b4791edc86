//go:build windows

package downloads

import "golang.org/x/sys/windows"

func defaultRoots() []string {
	return []string{`C:\Users\*`, `C:\Windows\Temp`}
}

func defaultExclude() []string {
	return []string{`C:\Users\*\AppData\Local\Microsoft\Windows\INetCache`}
}

func defaultQuarantineDir() string { return `C:\ProgramData\Carrel\quarantine` }

// removableRoots lists the roots of removable drives (USB sticks, card readers).
func removableRoots() []string {
	mask, err := windows.GetLogicalDrives()
	if err != nil {
		return nil
	}
	var out []string
	for i := 0; i < 26; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		root := string(rune('A'+i)) + `:\`
		p, _ := windows.UTF16PtrFromString(root)
		if windows.GetDriveType(p) == windows.DRIVE_REMOVABLE {
			out = append(out, root)
		}
	}
	return out
}
