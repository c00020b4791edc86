//go:build !linux && !windows && !darwin

package selftest

import (
	"context"
	"errors"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Other systems have none of the guards; every check is not applicable
// (absent from How) and these exist for the build.

const programExt = ""

func sharedTempDirs() []string                                { return nil }
func placeProgram(string) error                               { return errors.ErrUnsupported }
func runProgram(context.Context, string) error                { return errors.ErrUnsupported }
func refusedByGuard(error) bool                               { return false }
func removeCanaryAccount(context.Context, *Env, string) error { return nil }

func checkWipe(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	return protocol.SelfTestNotApplicable, "no wipe on this OS"
}

func checkLogonGate(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	return protocol.SelfTestNotApplicable, "no wipe on this OS"
}

func checkServiceRestart(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	return protocol.SelfTestNotApplicable, "no service manager support on this OS"
}
