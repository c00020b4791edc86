//go:build darwin

package selftest

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func sharedTempDirs() []string { return []string{"/private/tmp", "/private/var/tmp"} }

// launchdPlist is where kardianos/service installs the agent's daemon.
const launchdPlist = "/Library/LaunchDaemons/carrel-agent.plist"

func checkServiceRestart(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	data, err := os.ReadFile(launchdPlist)
	if err != nil {
		return protocol.SelfTestFail, "the launchd daemon is not installed: " + err.Error()
	}
	s := string(data)
	if i := strings.Index(s, "<key>KeepAlive</key>"); i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+len("<key>KeepAlive</key>"):]), "<true/>") {
		return protocol.SelfTestPass, "launchd keeps carrel-agent alive (KeepAlive)"
	}
	return protocol.SelfTestFail, launchdPlist + " does not set KeepAlive: launchd does not restart the agent"
}

// The checks below are not applicable on macOS (absent from their How), so
// Run never calls them; they exist for the build.

const programExt = ""

func placeProgram(string) error                               { return errors.ErrUnsupported }
func runProgram(context.Context, string) error                { return errors.ErrUnsupported }
func refusedByGuard(error) bool                               { return false }
func removeCanaryAccount(context.Context, *Env, string) error { return nil }

func checkWipe(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	return protocol.SelfTestNotApplicable, "the wipe is not built on macOS"
}

func checkLogonGate(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	return protocol.SelfTestNotApplicable, "the wipe is not built on macOS"
}
