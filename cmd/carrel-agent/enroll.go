package main

// The enroll subcommand: join this PC to a hub with IT's token and the hub CA's
// fingerprint.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/link"
)

func cmdEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hub := fs.String("hub", "", "the hub's address, wss://HOST:PORT (required)")
	token := fs.String("token", "", "the enrollment token from the console (required)")
	fp := fs.String("fingerprint", "", "the hub CA's SHA-256 fingerprint from the console (required)")
	path := fs.String("config", config.DefaultPath(), "configuration file; hub_url is written into it if absent")
	force := fs.Bool("force", false, "enroll again even if this PC is already enrolled (it gets a new terminal ID)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the hub")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: carrel-agent enroll --hub wss://HOST:PORT --token TOKEN --fingerprint CA-FINGERPRINT [--config PATH]

Enrolls this PC with the hub. The console shows the token, the fingerprint and
this exact command line. The agent makes its own key (it never leaves the PC),
checks that the hub's certificate comes from the CA with that fingerprint
before sending anything, and stores its certificate in the state directory.
It then writes hub_url into the configuration file (creating the file from the
example if needed) and prints the terminal ID.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "carrel-agent enroll: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *hub == "" || *token == "" || *fp == "" {
		fmt.Fprintln(stderr, "carrel-agent enroll: --hub, --token and --fingerprint are all required")
		fs.Usage()
		return 2
	}
	if err := config.CheckHubURL(*hub); err != nil {
		fmt.Fprintln(stderr, "carrel-agent enroll: --hub:", err)
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "carrel-agent enroll: "+format+"\n", a...)
		return 1
	}

	cfg := config.DefaultConfig()
	if c, err := config.Load(*path); err == nil {
		cfg = c
	} else if !errors.Is(err, os.ErrNotExist) {
		return fail("%v", err)
	}
	if cfg.HubURL != "" && cfg.HubURL != *hub {
		return fail("%s already names hub %s; edit hub_url there first to move this PC to %s", *path, cfg.HubURL, *hub)
	}
	if err := config.EnsureStateDir(cfg.StateDir); err != nil {
		return fail("%v", err)
	}
	if id, err := link.LoadIdentity(cfg.StateDir); err == nil && !*force {
		if id.HubURL != *hub {
			return fail("this PC is already enrolled as %s with hub %s; use --force to enroll again", id.TerminalID, id.HubURL)
		}
		if err := config.SetHubURL(*path, *hub); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "Already enrolled as terminal %s with %s.\n", id.TerminalID, *hub)
		return 0
	}

	id, err := link.Enroll(ctx, link.EnrollOptions{HubURL: *hub, Token: *token, Fingerprint: *fp, StateDir: cfg.StateDir, Timeout: *timeout})
	switch {
	case errors.Is(err, link.ErrWrongHub):
		return fail("%v\nCheck the fingerprint against the console (Enrollment screen) and that --hub points at the Carrel hub.", err)
	case errors.Is(err, link.ErrEnrollRefused):
		return fail("%v\nThe token may be expired, used up or mistyped: create a new one in the console.", err)
	case errors.Is(err, link.ErrHubUnreachable):
		return fail("%v\nCheck the address and port, and that the firewall lets this PC reach the hub.", err)
	case err != nil:
		return fail("%v", err)
	}
	// hub_url goes last: a configuration naming a hub means the enrollment is complete.
	if err := config.SetHubURL(*path, *hub); err != nil {
		return fail("enrolled as %s, but the configuration was not updated: %v", id.TerminalID, err)
	}
	fmt.Fprintf(stdout, "Enrolled as terminal %s with %s.\n", id.TerminalID, *hub)
	return 0
}
