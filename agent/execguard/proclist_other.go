//go:build !linux

package execguard

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v3/process"
)

// listPids lists the processes through gopsutil.
func listPids(ctx context.Context) ([]int32, error) { return process.PidsWithContext(ctx) }

// processExe returns the executable path of pid.
func processExe(pid int32) (string, error) {
	pr, err := process.NewProcess(pid)
	if err != nil {
		return "", err
	}
	exe, err := pr.Exe()
	if err != nil {
		return "", fmt.Errorf("exe of %d: %w", pid, err)
	}
	return exe, nil
}
