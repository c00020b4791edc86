//go:build !windows

package overlay

import "os/exec"

// startHelper starts cmd.
func startHelper(cmd *exec.Cmd) (helperProcess, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmdProcess{cmd}, nil
}
