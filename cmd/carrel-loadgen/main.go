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

func main() {
	p := &cli.Program{
		Name:   "carrel-loadgen",
		Footer: "Every command takes --help. Only loopback (127.0.0.1) hubs are meant.",
	}
	for _, c := range []cli.Command{
		{Name: "enroll", Summary: "enroll N simulated agents (identities kept in --dir for later runs)", Run: runEnroll},
		{Name: "run", Summary: "run N agents against a running hub and measure it", Run: runRun},
		{Name: "agents", Summary: "run one group of agents (a child of run/storm/baseline)", Hidden: true, Run: runAgents},
		{Name: "storm", Summary: "SIGKILL and restart the hub under N agents; time the reconnection, account for every event", Run: runStorm},
		{Name: "echo-server", Summary: "bare gorilla/websocket server on the hub's mutual TLS (memory baseline)", Run: runEcho},
		{Name: "baseline", Summary: "hold N connections on the bare server, then on the hub, in one run; compare RSS per connection", Run: runBaseline},
		{Name: "hub", Summary: "run the real hub in this process with CPU/heap profiling", Run: runHub},
		{Name: "footprint", Summary: "sample a real carrel-agent's RSS and CPU from /proc", Run: runFootprint},
	} {
		p.Register(c)
	}
	p.Main()
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
