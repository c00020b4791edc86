// Command carrel-loadgen measures Carrel at fleet scale on one machine: it
// enrolls simulated agents (real link client, real outbox, own identity each),
// runs them against a hub and prints the hub's CPU, memory, status-to-store
// latency, command round trip and event accounting; it also runs the reconnect
// storm, the bare websocket memory baseline and the agent footprint.
//
// main only parses flags and calls internal/loadgen. Exit codes: 0 success (the
// measurement ran; targets missed are reported, not failed), 1 failure, 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

type command struct {
	summary string
	hidden  bool
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func main() {
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
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "carrel-loadgen: unknown command %q; run 'carrel-loadgen --help'\n", args[0])
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: carrel-loadgen COMMAND [flags]\n\ncommands:")
	var names []string
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --help. Only loopback (127.0.0.1) hubs are meant.")
}

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
