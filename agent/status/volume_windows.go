//go:build windows

package status

import "os"

// systemVolume is the drive Windows booted from (%SystemDrive%, normally C:).
func systemVolume() (string, error) {
	d := os.Getenv("SystemDrive")
	if d == "" {
		d = "C:"
	}
	return d + `\`, nil
}
