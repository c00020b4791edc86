//go:build linux

package overlay

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// HelperCommand returns the Starter that runs exe (this executable when exe is
// "") with args as the target's uid and gid, no supplementary groups, in a new
// process session, with "/" as its directory and nothing in its environment but
// DISPLAY and XAUTHORITY. The service must be root to start a helper for
// another uid.
func HelperCommand(exe string, args ...string) Starter {
	return func(t Target) (*exec.Cmd, error) {
		path := exe
		if path == "" {
			var err error
			if path, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("find own executable: %w", err)
			}
		}
		cmd := exec.Command(path, args...)
		cmd.Dir = "/"
		cmd.Env = []string{"DISPLAY=" + t.Display}
		if t.XAuthority != "" {
			cmd.Env = append(cmd.Env, "XAUTHORITY="+t.XAuthority)
		}
		attr := &syscall.SysProcAttr{Setsid: true}
		if uint32(os.Geteuid()) != t.UID || uint32(os.Getegid()) != t.GID {
			if os.Geteuid() != 0 {
				return nil, errors.New("starting a helper as another user needs root")
			}
			attr.Credential = &syscall.Credential{Uid: t.UID, Gid: t.GID, Groups: []uint32{}}
		}
		cmd.SysProcAttr = attr
		return cmd, nil
	}
}

// checkSeat accepts a local X display and a clean XAUTHORITY path.
func (t Target) checkSeat() error { return t.checkX() }
