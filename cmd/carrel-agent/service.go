package main

// The service subcommands: install, uninstall, start, stop, restart, status, and
// the hidden `service` entry point the installed service runs. The work is in
// agent/service; this file parses flags and prints what happened.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/agent/service"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// newFlags returns a flag set that prints usage to stderr and does not exit.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: carrel-agent %s\n\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse returns -1 to go on, or the exit code (0 for --help, 2 for bad usage).
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "carrel-agent %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2
	}
	return -1
}

func cliLog(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// configPaths is the layout with the configuration file at path.
func configPaths(path string) service.Paths {
	p := service.DefaultPaths()
	if path != "" {
		p.Config = path
	}
	return p
}

func newManager(paths service.Paths, system string, log *slog.Logger) (*service.Manager, error) {
	return service.NewManager(service.Options{
		Paths:       paths,
		System:      system,
		Log:         log,
		WriteConfig: writeConfig,
		Cleanup: func(context.Context) error {
			return removeBrowserPolicies(paths.Config, log)
		},
	})
}

// removeBrowserPolicies takes away the browser policies the agent wrote, so
// that an uninstalled PC's browsers are not left locked down by nobody.
func removeBrowserPolicies(configPath string, log *slog.Logger) error {
	cfg := config.DefaultConfig()
	if c, err := config.Load(configPath); err == nil {
		cfg = c
	}
	err := browserpolicy.New(cfg.BrowserPolicy, "", log, nil).Remove()
	if errors.Is(err, browserpolicy.ErrNotImplemented) {
		return nil
	}
	return err
}

// writeConfig writes a fresh configuration file: the documented example.
// hub_url is not set here: enrollment writes it last, and a configuration
// naming a hub means the enrollment is complete.
func writeConfig(path string, _ service.Preseed) error {
	return atomicfile.WriteFile(path, []byte(config.Example()), 0o644)
}

func cmdInstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("install", "install [--hub wss://HOST:PORT --fingerprint SHA256 --token TOKEN] [--config PATH] [--no-start]", stderr)
	var (
		p       service.Preseed
		cfg     = fs.String("config", "", "configuration file (default "+service.DefaultPaths().Config+")")
		noStart = fs.Bool("no-start", false, "register the service but do not start it")
		system  = fs.String("system", "", "force a service manager (e.g. linux-systemd, unix-systemv); default: detected")
	)
	fs.StringVar(&p.HubURL, "hub", "", "hub address, wss://HOST:PORT (from the console's enrollment screen)")
	fs.StringVar(&p.HubFingerprint, "fingerprint", "", "SHA-256 fingerprint of the hub's CA")
	fs.StringVar(&p.EnrollToken, "token", "", "enrollment token")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	paths := configPaths(*cfg)
	log := cliLog(stderr)
	m, err := newManager(paths, *system, log)
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent install:", err)
		return 1
	}
	r, err := m.Install(ctx, service.InstallRequest{Preseed: p, Enroller: newEnroller(paths), NoStart: *noStart})
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent install:", err)
		return 1
	}
	if r.AlreadyInstalled {
		fmt.Fprintln(stdout, "Service already installed:", service.Name)
	} else {
		fmt.Fprintln(stdout, "Service installed:", service.Name)
	}
	switch {
	case r.Enrolled:
		fmt.Fprintln(stdout, "Enrolled.")
	case r.EnrollErr != nil:
		fmt.Fprintf(stdout, "Not enrolled yet: %v\nThe service retries from the preseed (%s) until the hub answers.\n", r.EnrollErr, m.PreseedLocation())
	}
	if r.Started {
		fmt.Fprintln(stdout, "Service running.")
	}
	return 0
}

func cmdUninstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("uninstall", "uninstall [--purge] [--config PATH]", stderr)
	purge := fs.Bool("purge", false, "also remove the configuration, state (key, certificates, outbox), quarantine and preseed")
	cfg := fs.String("config", "", "configuration file (default "+service.DefaultPaths().Config+")")
	system := fs.String("system", "", "force a service manager; default: detected")
	onlyVersion := fs.String("if-version", "", "act only if this version is the one installed (used by the MSI during upgrades)")
	pkg := fs.Bool("package", false, "the package manager owns the service: only remove what the agent put on the system (used by the .deb)")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	m, err := newManager(configPaths(*cfg), *system, cliLog(stderr))
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent uninstall:", err)
		return 1
	}
	r, err := m.Uninstall(ctx, service.UninstallRequest{Purge: *purge, OnlyVersion: *onlyVersion, PackageOwnsService: *pkg})
	if errors.Is(err, service.ErrOtherVersion) {
		fmt.Fprintln(stdout, "carrel-agent uninstall:", err)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent uninstall:", err)
		return 1
	}
	if r.WasInstalled {
		fmt.Fprintln(stdout, "Service removed:", service.Name)
	} else {
		fmt.Fprintln(stdout, "Service was not installed:", service.Name)
	}
	for _, p := range r.Purged {
		fmt.Fprintln(stdout, "Removed", p)
	}
	return 0
}

func cmdControl(what string) func(context.Context, []string, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		fs := newFlags(what, what, stderr)
		system := fs.String("system", "", "force a service manager; default: detected")
		if code := parse(fs, args); code >= 0 {
			return code
		}
		m, err := newManager(service.DefaultPaths(), *system, cliLog(stderr))
		if err == nil {
			switch what {
			case "start":
				err = m.Start()
			case "stop":
				err = m.Stop()
			default:
				err = m.Restart()
			}
		}
		if errors.Is(err, service.ErrNotInstalled) {
			fmt.Fprintln(stderr, notInstalledHelp(runtime.GOOS))
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "carrel-agent %s: %v\n", what, err)
			return 1
		}
		fmt.Fprintf(stdout, "Service %s: done.\n", what)
		return 0
	}
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [--json] [--config PATH]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	cfg := fs.String("config", "", "configuration file (default "+service.DefaultPaths().Config+")")
	system := fs.String("system", "", "force a service manager; default: detected")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	paths := configPaths(*cfg)
	m, err := newManager(paths, *system, cliLog(stderr))
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent status:", err)
		return 1
	}
	r, err := m.Status(newEnroller(paths))
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent status:", err)
		return 1
	}
	return printStatus(stdout, r, *asJSON, runtime.GOOS)
}

// printStatus prints what status found and returns the exit code: 0 only for
// a running service, 3 otherwise (like systemctl status and LSB: not running).
func printStatus(stdout io.Writer, r service.StatusReport, asJSON bool, goos string) int {
	if asJSON {
		json.NewEncoder(stdout).Encode(map[string]any{
			"service": r.State, "enrolled": r.Enrolled, "enrollment_pending": r.Pending,
		})
	} else {
		if r.State == service.StateNotInstalled {
			fmt.Fprintln(stdout, notInstalledHelp(goos))
		}
		fmt.Fprintf(stdout, "Service:  %s\n", r.State)
		switch {
		case r.Enrolled:
			fmt.Fprintln(stdout, "Enrolled: yes")
		case r.Pending:
			fmt.Fprintf(stdout, "Enrolled: not yet (the service retries from %s)\n", r.Preseed)
		default:
			fmt.Fprintln(stdout, "Enrolled: no (run carrel-agent install --hub ... --fingerprint ... --token ...)")
		}
	}
	if r.State != service.StateRunning {
		return 3
	}
	return 0
}

// notInstalledHelp says that the service is not installed and the install
// command that installs it (cmdInstall's flags).
func notInstalledHelp(goos string) string {
	install := "carrel-agent install --hub wss://HOST:PORT --fingerprint SHA256 --token TOKEN"
	if goos == "windows" {
		return "carrel-agent is not installed as a service; install it from an elevated prompt with: " + install +
			" (or with the MSI)"
	}
	return "carrel-agent is not installed as a service; install it with: sudo " + install +
		"\n(the values are on the hub's enrollment screen; on Debian or Ubuntu the carrel-agent .deb installs it too)"
}

func cmdService(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("service", "service --config PATH   (run by the service manager, not by hand)", stderr)
	cfg := fs.String("config", "", "configuration file")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	paths := configPaths(*cfg)
	log, closer, err := service.OpenLog(paths)
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent service:", err)
		return 1
	}
	defer closer.Close()
	h := &service.Host{
		Paths:    paths,
		Enroller: newEnroller(paths),
		Log:      log,
		Run: func(ctx context.Context) error {
			return runAgentFor(ctx, paths.Config, log)
		},
	}
	if err := service.RunService(ctx, h); err != nil {
		log.Error("Service failed", "err", err)
		fmt.Fprintln(stderr, "carrel-agent service:", err)
		return 1
	}
	return 0
}

// runAgentFor runs the agent as `carrel-agent run --config PATH` does, logging
// to the service's log.
func runAgentFor(ctx context.Context, configPath string, log *slog.Logger) error {
	return runAgentConfig(ctx, configPath, log)
}

// cmdEnroller enrolls through the `enroll` subcommand, the same code IT runs by hand.
type cmdEnroller struct{ paths service.Paths }

func newEnroller(p service.Paths) service.Enroller { return cmdEnroller{p} }

// Enrolled reports whether the configuration names a hub (enrollment writes
// it last) and the state directory holds the agent's identity.
func (e cmdEnroller) Enrolled() (bool, error) {
	c, err := config.Load(e.paths.Config)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if c.HubURL == "" {
		return false, nil
	}
	if _, err := link.LoadIdentity(c.StateDir); err != nil {
		return false, nil
	}
	return true, nil
}

func (e cmdEnroller) Enroll(ctx context.Context, p service.Preseed) error {
	var out strings.Builder
	code := cmdEnroll(ctx, []string{"--config", e.paths.Config, "--hub", p.HubURL, "--fingerprint", p.HubFingerprint, "--token", p.EnrollToken}, &out, &out)
	if code != 0 {
		return fmt.Errorf("enroll: %s", strings.TrimSpace(out.String()))
	}
	return nil
}
