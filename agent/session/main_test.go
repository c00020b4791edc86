package session

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a helper that runs inside a container.
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}
