//go:build linux

package execguard

import (
	"context"
	"os"
	"strconv"
)

// listPids lists the processes from /proc's directory: one getdents, no file
// opened per process (gopsutil read /proc/PID/stat and /proc/uptime for every
// process on every sweep, the idle agent's largest cost).
func listPids(context.Context) ([]int32, error) {
	f, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int32, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.ParseInt(n, 10, 32); err == nil {
			pids = append(pids, int32(pid))
		}
	}
	return pids, nil
}

// processExe returns the executable path of pid: one readlink of /proc/PID/exe.
func processExe(pid int32) (string, error) {
	return os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/exe")
}
