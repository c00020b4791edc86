package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/carrel-kiosk/carrel/agent/overlay"
)

const sessionHelperUsage = `Usage: carrel-agent session-helper

Started by the carrel-agent service, as the patron, inside a patron's graphical
session: it shows the lock screen, the countdown before a session ends and staff
messages. It reads the state to show as JSON lines on stdin, writes reports on
stdout, and exits when stdin closes. There is nothing to run by hand.
`

func runSessionHelper(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, sessionHelperUsage)
			return 0
		}
		fmt.Fprintf(stderr, "carrel-agent session-helper: takes no arguments\n\n%s", sessionHelperUsage)
		return 2
	}
	return overlay.HelperMain(ctx, os.Stdin, stdout, stderr)
}
