package selftest

import (
	"os"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/execguard"
)

// TestMain lets the test binary be the exec guard's fanotify helper, as
// cmd/carrel-agent is (execguard.NewEnforcer starts os.Executable with
// HelperArg), and a self-test that is killed half-way (killedChild).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == execguard.HelperArg {
		os.Exit(execguard.HelperMain(os.Stdin, os.Stdout))
	}
	if len(os.Args) > 1 && os.Args[1] == "version" {
		os.Exit(0) // the Windows exec canary is this binary run with "version"
	}
	if os.Getenv(envKilledChild) != "" {
		killedChild()
		os.Exit(3) // not reached: the child kills itself
	}
	os.Exit(m.Run())
}
