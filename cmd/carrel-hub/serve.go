package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/carrel-kiosk/carrel/internal/cli"
	"github.com/carrel-kiosk/carrel/internal/directory"
	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/hubservice"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// serveFlags are the flags of serve, and of the service entry point that
// runs the same hub.
type serveFlags struct {
	data, listen, names      *string
	keepEvents, keepSessions *time.Duration
	debug                    *bool
}

func newServeFlags(name string, stderr io.Writer) (*flag.FlagSet, serveFlags) {
	fs, data := newFlags(name, "[--data DIR] [--listen ADDR] [--name HOST,...]", stderr)
	return fs, serveFlags{
		data:         data,
		listen:       fs.String("listen", ":8443", "address agents connect to"),
		names:        fs.String("name", "", "comma-separated DNS names or IPs of this hub, as agents will dial it (first is the certificate's name)"),
		keepEvents:   durationFlag(fs, "keep-events", store.DefaultKeep[store.KeepEvents], "delete agent events and staff commands older than this (30d, 720h; counts and the audit log are kept for good)"),
		keepSessions: durationFlag(fs, "keep-sessions", store.DefaultKeep[store.KeepSessions], "delete session detail (when each patron session started and ended) older than this"),
		debug:        fs.Bool("debug", false, "log at debug level"),
	}
}

// durationFlag is a flag of a length of time that also takes days (cli.Duration).
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := def
	fs.Var(cli.Duration{D: &d}, name, usage)
	return &d
}

func (f serveFlags) level() slog.Level {
	if *f.debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := newServeFlags("serve", stderr)
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: f.level()}))
	if err := serveHub(ctx, f, log, stdout); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// runService is the entry point the installed Windows service runs (`service
// --data DIR ...`): serve, under the service control manager, logging to
// <data>\hub.log. Elsewhere it is serve.
func runService(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := newServeFlags("service", stderr)
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	log, closer, err := hubservice.OpenLog(*f.data, stderr, f.level())
	if err != nil {
		return fail(stderr, err)
	}
	defer closer.Close()
	err = hubservice.RunService(ctx, func(ctx context.Context) error { return serveHub(ctx, f, log, stdout) })
	if err != nil {
		log.Error("Service failed", "err", err)
		return fail(stderr, err)
	}
	return 0
}

// openDirectory reads <data>/directory.toml, nil when there is none.
func openDirectory(data string) (*directory.Directory, error) {
	path := filepath.Join(data, directory.FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	cfg, err := directory.LoadFile(path)
	if err != nil {
		return nil, err
	}
	return directory.New(cfg)
}

// serveHub runs the hub until ctx ends, printing where it listens to stdout.
func serveHub(ctx context.Context, f serveFlags, log *slog.Logger, stdout io.Writer) error {
	dir, err := openDirectory(*f.data)
	if err != nil {
		return err
	}
	cfg := hub.Config{DataDir: *f.data, Listen: *f.listen, Names: cli.SplitList(*f.names), KeepEvents: *f.keepEvents, KeepSessions: *f.keepSessions, Version: version}
	if dir != nil {
		cfg.Staff.Directory = dir
		log.Info("Directory sign-in for staff", "settings", filepath.Join(*f.data, directory.FileName))
	}
	h, err := hub.New(cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "carrel-hub listening on %s\nCA fingerprint: %s\n", h.Addr(), h.Fingerprint())
	if code := h.SetupCode(); code != "" {
		fmt.Fprintf(stdout, "No staff account yet. First-run setup code: %s\n(also in %s; it works once: enter it in the console, or run 'carrel-hub admin create')\n",
			code, filepath.Join(*f.data, staffapi.SetupCodeFile))
	}
	if s, ok := stdout.(interface{ Sync() error }); ok {
		s.Sync()
	}
	return h.Run(ctx)
}
