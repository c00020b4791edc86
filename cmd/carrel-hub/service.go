package main

// The service subcommands: install, uninstall, start, stop, status. The work
// is in internal/hubservice; this file parses flags and prints what happened.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/carrel-kiosk/carrel/internal/hubservice"
)

// notInstalledHelp says how to install, for status and start/stop.
const notInstalledHelp = `carrel-hub is not installed as a service.
Install it: on Debian or Ubuntu with the carrel-hub .deb (apt install ./carrel-hub_*.deb),
elsewhere as root, or from an elevated prompt on Windows:
  carrel-hub install --name HOST   (HOST: the name the library's PCs will reach this hub by)`

func newManager(data string, args []string, system string, stderr io.Writer) (*hubservice.Manager, error) {
	return hubservice.NewManager(hubservice.Options{DataDir: data, Args: args, System: system,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
}

func runInstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("install", "[--data DIR] [--listen ADDR] [--name HOST,...] [--no-start]", stderr)
	listen := fs.String("listen", "", "address agents connect to (default :8443)")
	names := fs.String("name", "", "comma-separated DNS names or IPs of this hub, as agents will dial it (first is the certificate's name)")
	noStart := fs.Bool("no-start", false, "register the service but do not start it")
	system := fs.String("system", "", "force a service manager (linux-systemd, unix-systemv, windows-service); default: detected")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	var serveArgs []string
	if *listen != "" {
		serveArgs = append(serveArgs, "--listen", *listen)
	}
	if *names != "" {
		serveArgs = append(serveArgs, "--name", *names)
	}
	m, err := newManager(*data, serveArgs, *system, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	r, err := m.Install(*noStart)
	if err != nil {
		return fail(stderr, fmt.Errorf("install: %w", err))
	}
	if r.AlreadyInstalled {
		fmt.Fprintln(stdout, "Service already installed:", hubservice.Name)
	} else {
		fmt.Fprintf(stdout, "Service installed: %s (data in %s)\n", hubservice.Name, *data)
	}
	if r.Started {
		fmt.Fprintln(stdout, "Service running. Its fingerprint and first-run setup code are in its log.")
	}
	return 0
}

func runUninstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("uninstall", "[--data DIR] [--purge]", stderr)
	purge := fs.Bool("purge", false, "also delete the data directory: the CA, keys and database (every PC must enroll again)")
	system := fs.String("system", "", "force a service manager; default: detected")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	m, err := newManager(*data, nil, *system, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	r, err := m.Uninstall(*purge)
	if err != nil {
		return fail(stderr, fmt.Errorf("uninstall: %w", err))
	}
	if r.WasInstalled {
		fmt.Fprintln(stdout, "Service removed:", hubservice.Name)
	} else {
		fmt.Fprintln(stdout, "Service was not installed:", hubservice.Name)
	}
	if r.Purged != "" {
		fmt.Fprintln(stdout, "Removed", r.Purged)
	} else if !*purge {
		fmt.Fprintf(stdout, "The data (CA, keys, database) stays in %s.\n", *data)
	}
	return 0
}

func runControl(what string) func(context.Context, []string, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		fs, data := newFlags(what, "", stderr)
		system := fs.String("system", "", "force a service manager; default: detected")
		if code := parse(fs, args, exactly(0)); code >= 0 {
			return code
		}
		m, err := newManager(*data, nil, *system, stderr)
		if err == nil {
			if what == "start" {
				err = m.Start()
			} else {
				err = m.Stop()
			}
		}
		if errors.Is(err, hubservice.ErrNotInstalled) {
			fmt.Fprintln(stderr, notInstalledHelp)
			return 1
		}
		if err != nil {
			return fail(stderr, fmt.Errorf("%s: %w", what, err))
		}
		fmt.Fprintf(stdout, "Service %s: done.\n", what)
		return 0
	}
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("status", "", stderr)
	system := fs.String("system", "", "force a service manager; default: detected")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	m, err := newManager(*data, nil, *system, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	st, err := m.Status()
	if err != nil {
		return fail(stderr, fmt.Errorf("status: %w", err))
	}
	if st == hubservice.StateNotInstalled {
		fmt.Fprintln(stdout, "Service:  not installed")
		fmt.Fprintln(stdout, notInstalledHelp)
		return 3
	}
	fmt.Fprintf(stdout, "Service:  %s", st)
	if m.Packaged() {
		fmt.Fprint(stdout, " (installed by the carrel-hub package)")
	}
	fmt.Fprintln(stdout)
	if st != hubservice.StateRunning {
		return 3 // like systemctl status and LSB: not running
	}
	return 0
}
