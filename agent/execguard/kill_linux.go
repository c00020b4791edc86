//go:build linux

package execguard

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// killIfExe kills pid with SIGKILL through a pidfd, after checking through that
// same pidfd's process that its executable is still exe: a pid reused between
// the sweep and the kill is never hit.
func killIfExe(pid int32, exe string) error {
	pfd, err := unix.PidfdOpen(int(pid), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pfd)
	// The pidfd pins the process identity: if /proc/PID/exe still names exe
	// now, the process the pidfd refers to is the one we judged.
	now, err := os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/exe")
	if err != nil {
		return fmt.Errorf("re-read exe of %d: %w", pid, err)
	}
	if strings.TrimSuffix(now, " (deleted)") != exe {
		return fmt.Errorf("process %d now runs %s", pid, now)
	}
	if err := unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return nil
}
