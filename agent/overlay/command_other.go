//go:build !linux && !windows

package overlay

import (
	"fmt"
	"os/exec"
)

// HelperCommand would start a helper in the patron's session; this OS has none
// yet.
func HelperCommand(exe string, args ...string) Starter {
	return func(t Target) (*exec.Cmd, error) {
		return nil, fmt.Errorf("session helper: %w", ErrNotImplemented)
	}
}

func (t Target) checkSeat() error { return t.checkX() }
