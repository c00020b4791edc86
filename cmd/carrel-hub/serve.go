package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("serve", "[--data DIR] [--listen ADDR] [--name HOST,...]", stderr)
	listen := fs.String("listen", ":8443", "address agents connect to")
	names := fs.String("name", "", "comma-separated DNS names or IPs of this hub, as agents will dial it (first is the certificate's name)")
	retention := fs.Duration("event-retention", 90*24*time.Hour, "delete agent events older than this (the audit log is kept)")
	debug := fs.Bool("debug", false, "log at debug level")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	h, err := hub.New(hub.Config{DataDir: *data, Listen: *listen, Names: splitNames(*names), EventRetention: *retention, Version: version}, log)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "carrel-hub listening on %s\nCA fingerprint: %s\n", h.Addr(), h.Fingerprint())
	if code := h.SetupCode(); code != "" {
		fmt.Fprintf(stdout, "No staff account yet. First-run setup code: %s\n(also in %s; it works once: enter it in the console, or run 'carrel-hub admin create')\n",
			code, filepath.Join(*data, staffapi.SetupCodeFile))
	}
	if f, ok := stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	if err := h.Run(ctx); err != nil {
		return fail(stderr, err)
	}
	return 0
}

func splitNames(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
