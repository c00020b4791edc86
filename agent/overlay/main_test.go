package overlay

import (
	"context"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the helper: the real one (as carrel-agent runs
	// it) and a fake one that speaks the protocol without a display.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case HelperArg:
			os.Exit(HelperMain(context.Background(), os.Stdin, os.Stdout, os.Stderr))
		case fakeHelperArg:
			os.Exit(fakeHelper())
		}
	}
	os.Exit(m.Run())
}
