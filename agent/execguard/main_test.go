package execguard

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary double as a long-running child process: with
// CARREL_TEST_SLEEP set it sleeps instead of running tests (used on Windows,
// where there is no /bin/sleep to copy).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		os.Exit(HelperMain(os.Stdin, os.Stdout)) // the exec guard helper, as cmd/carrel-agent runs it
	}
	if os.Getenv("CARREL_TEST_SLEEP") == "1" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
