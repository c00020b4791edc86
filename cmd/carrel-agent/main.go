// Command carrel-agent is the Carrel service that runs on every patron PC.
//
// main only dispatches: each subcommand lives in its own file of this package,
// registers itself in init with register, and calls into a package under agent/.
package main

import (
	"context"
	"io"
	"os"

	"github.com/carrel-kiosk/carrel/agent/execguard"
	"github.com/carrel-kiosk/carrel/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand. run gets the arguments after the subcommand name and
// returns the process exit code: 0 success, 1 failure, 2 bad usage.
type command struct {
	name    string
	summary string // one line for the top-level help
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var program = &cli.Program{
	Name:    "carrel-agent",
	Version: version,
	Header: `carrel-agent: the Carrel service for public PCs. It blocks untrusted downloads,
wipes the patron's session at logout, obeys staff commands and reports to the hub.

Usage: carrel-agent COMMAND [options]   (carrel-agent COMMAND --help for its options)

Commands:`,
	Footer: `Logs: the system journal (Linux), %ProgramData%\Carrel\agent.log (Windows), the unified log (macOS).`,
}

// register adds a subcommand; called from init in each subcommand's file.
func register(c *command) {
	program.Register(cli.Command{Name: c.name, Summary: c.summary, Run: c.run})
}

func main() {
	// The exec guard's fanotify helper is this binary started with HelperArg: it
	// must answer exec permission events without ever forking, so it runs before
	// anything else (see agent/execguard).
	if len(os.Args) > 1 && os.Args[1] == execguard.HelperArg {
		os.Exit(execguard.HelperMain(os.Stdin, os.Stdout))
	}
	program.Main()
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return program.Dispatch(ctx, args, stdout, stderr)
}
