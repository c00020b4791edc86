//go:build !linux

package execguard

import (
	"fmt"

	"github.com/shirou/gopsutil/v3/process"
)

// killIfExe re-checks pid's executable and kills it. A pid reused in the gap
// between the check and the kill could be hit (2026-11: no pidfd here).
func killIfExe(pid int32, exe string) error {
	pr, err := process.NewProcess(pid)
	if err != nil {
		return fmt.Errorf("open process %d: %w", pid, err)
	}
	if now, err := pr.Exe(); err != nil || now != exe {
		return fmt.Errorf("process %d no longer runs %s", pid, exe)
	}
	if err := pr.Kill(); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return nil
}
