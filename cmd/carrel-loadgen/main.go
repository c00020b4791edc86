// Command carrel-loadgen measures Carrel at fleet scale on one machine: it
// enrolls simulated agents (real link client, real outbox, own identity each),
// runs them against a hub and prints the hub's CPU, memory, status-to-store
// latency, command round trip and event accounting; it also runs the reconnect
// storm, the bare websocket memory baseline and the agent footprint.
//
// main only parses flags and calls internal/testrig/loadgen. Exit codes: 0 success (the
// measurement ran; targets missed are reported, not failed), 1 failure, 2 usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/carrel-kiosk/carrel/internal/cli"
)

var program = &cli.Program{
	Name:   "carrel-loadgen",
	Footer: "Every command takes --help. Only loopback (127.0.0.1) hubs are meant.",
}

func register(c cli.Command) { program.Register(c) }

func main() { program.Main() }

func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("carrel-loadgen "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: carrel-loadgen %s %s\n\n%s\n\nflags:\n", name, synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

// parse returns the exit code to use, or -1 to go on.
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	return -1
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "carrel-loadgen:", err)
	return 1
}

// required reports a usage error when a flag is empty.
func required(fs *flag.FlagSet, vals map[string]string) int {
	for name, v := range vals {
		if v == "" {
			fmt.Fprintf(fs.Output(), "--%s is required\n", name)
			fs.Usage()
			return 2
		}
	}
	return -1
}
