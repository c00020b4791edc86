package session

import (
	"context"
	"os"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/overlay"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a helper that runs inside a container.
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	// ... and as the session helper (carrel-agent session-helper), which the
	// Linux controller starts as os.Executable().
	if len(os.Args) > 1 && os.Args[1] == overlay.HelperArg {
		os.Exit(overlay.HelperMain(context.Background(), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
