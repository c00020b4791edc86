// Command carrel-agent is the Carrel service that runs on every patron PC.
//
// main only dispatches: each subcommand lives in its own file of this package,
// registers itself in init with register, and calls into a package under agent/.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/carrel-kiosk/carrel/agent/execguard"
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

var commands = map[string]*command{}

// register adds a subcommand; called from init in each subcommand's file.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("carrel-agent: subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	// The exec guard's fanotify helper is this binary started with HelperArg: it
	// must answer exec permission events without ever forking, so it runs before
	// anything else (see agent/execguard).
	if len(os.Args) > 1 && os.Args[1] == execguard.HelperArg {
		os.Exit(execguard.HelperMain(os.Stdin, os.Stdout))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "carrel-agent", version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "carrel-agent: unknown command %q; run 'carrel-agent --help' for the list\n", args[0])
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `carrel-agent: the Carrel service for public PCs. It blocks untrusted downloads,
wipes the patron's session at logout, obeys staff commands and reports to the hub.

Usage: carrel-agent COMMAND [options]   (carrel-agent COMMAND --help for its options)

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-12s %s\n", "version", "print the agent version")
	fmt.Fprintln(w, strings.TrimSpace(`
Logs: the system journal (Linux), %ProgramData%\Carrel\agent.log (Windows), the unified log (macOS).`))
}
