package agent

import (
	"context"
	"os"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/overlay"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the session helper, as carrel-agent does.
	if len(os.Args) > 1 && os.Args[1] == overlay.HelperArg {
		os.Exit(overlay.HelperMain(context.Background(), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
