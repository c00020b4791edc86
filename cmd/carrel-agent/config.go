package main

// The config subcommand: print the example configuration, or check one.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/link"
)

func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, `Usage: carrel-agent config example
       carrel-agent config check [--config PATH]

example  prints a commented configuration file with every key and its default.
check    loads the configuration, checks the state directory is private and
         reports whether the agent is enrolled. Default --config: %s
`, config.DefaultPath())
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "example":
		if len(args) > 1 {
			if args[1] == "-h" || args[1] == "--help" {
				usage(stdout)
				return 0
			}
			fmt.Fprintf(stderr, "carrel-agent config example: unexpected argument %q\n", args[1])
			return 2
		}
		fmt.Fprint(stdout, config.Example())
		return 0
	case "check":
		fs := flag.NewFlagSet("config check", flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", config.DefaultPath(), "configuration file")
		fs.Usage = func() { usage(stderr); fs.PrintDefaults() }
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		cfg, err := config.Load(*path)
		if err != nil {
			fmt.Fprintln(stderr, "carrel-agent config check:", err)
			return 1
		}
		if err := config.CheckStateDir(cfg.StateDir); err != nil {
			fmt.Fprintln(stderr, "carrel-agent config check:", err)
			return 1
		}
		id, err := link.LoadIdentity(cfg.StateDir)
		switch {
		case errors.Is(err, link.ErrNotEnrolled):
			fmt.Fprintf(stdout, "Configuration %s is valid; this PC is not enrolled.\n", *path)
		case err != nil:
			fmt.Fprintln(stderr, "carrel-agent config check:", err)
			return 1
		default:
			fmt.Fprintf(stdout, "Configuration %s is valid; enrolled as terminal %s with %s (certificate expires %s).\n",
				*path, id.TerminalID, cfg.HubURL, id.Cert.Leaf.NotAfter.UTC().Format("2006-01-02"))
		}
		return 0
	}
	fmt.Fprintf(stderr, "carrel-agent config: unknown subcommand %q\n", args[0])
	usage(stderr)
	return 2
}
