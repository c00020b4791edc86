package main

// The run subcommand: the agent in the foreground, exactly what the service runs.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/carrel-kiosk/carrel/agent"
	"github.com/carrel-kiosk/carrel/agent/config"
)

// runAgentConfig loads the configuration at configPath and runs the agent until
// ctx is done. It is the one entry point for `carrel-agent run` and the service.
// (It is not called runAgent: scan_test.go has a helper of that name.)
func runAgentConfig(ctx context.Context, configPath string, log *slog.Logger) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	a, err := agent.New(cfg, version, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath(), "configuration file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: carrel-agent run [--config PATH]

Runs the agent in the foreground until interrupted (Ctrl-C or SIGTERM): the
same code the installed service runs. Logs go to stderr at the config's
log_level. The agent must be enrolled first (carrel-agent enroll) and its
state_dir must be private to the user running it.

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
		fmt.Fprintf(stderr, "carrel-agent run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	level := slog.LevelInfo
	if cfg, err := config.Load(*path); err == nil {
		level, _ = config.ParseLevel(cfg.LogLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := runAgentConfig(ctx, *path, log); err != nil {
		fmt.Fprintln(stderr, "carrel-agent run:", err)
		return 1
	}
	return 0
}
