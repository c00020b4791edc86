package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/cli"
	"github.com/carrel-kiosk/carrel/internal/directory"
	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/hubservice"
	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// serveFlags are the flags of serve, and of the service entry point that
// runs the same hub.
type serveFlags struct {
	data, listen, names      *string
	keepEvents, keepSessions *time.Duration
	debug                    *bool
	sip2                     sip2Flags
}

// sip2Flags are the library ILS's settings for card sign-in.
type sip2Flags struct {
	addr, profile, user, passwordFile, location, institution, ca *string
	tls                                                          *bool
	timeout                                                      *time.Duration
	conns                                                        *int
}

func newServeFlags(name string, stderr io.Writer) (*flag.FlagSet, serveFlags) {
	fs, data := newFlags(name, "[--data DIR] [--listen ADDR] [--name HOST,...] [--sip2 HOST:PORT --sip2-profile NAME --sip2-user USER --sip2-password-file FILE]", stderr)
	return fs, serveFlags{
		data:         data,
		listen:       fs.String("listen", ":8443", "address agents connect to"),
		names:        fs.String("name", "", "comma-separated DNS names or IPs of this hub, as agents will dial it (first is the certificate's name)"),
		keepEvents:   durationFlag(fs, "keep-events", store.DefaultKeep[store.KeepEvents], "delete agent events and staff commands older than this (30d, 720h; counts and the audit log are kept for good)"),
		keepSessions: durationFlag(fs, "keep-sessions", store.DefaultKeep[store.KeepSessions], "delete session detail (when each patron session started and ended) older than this"),
		debug:        fs.Bool("debug", false, "log at debug level"),
		sip2: sip2Flags{
			addr: fs.String("sip2", "", "HOST:PORT of the library ILS's SIP2 service, for card sign-in (empty: no card sign-in; guest passes only)"),
			tls:  fs.Bool("sip2-tls", false, "connect to the ILS over TLS (checked against the system's CAs, or --sip2-ca)"),
			ca:   fs.String("sip2-ca", "", "PEM file of the CA that signed the ILS's TLS certificate (with --sip2-tls)"),
			profile: fs.String("sip2-profile", sip2.ProfileGeneric,
				"the ILS's SIP2 dialect: "+strings.Join(sip2.ProfileNames(), ", ")+" (sirsi for sirsidynix)"),
			user:         fs.String("sip2-user", "", "the hub's SIP account on the ILS (empty: no login, for an ILS that authorises by address)"),
			passwordFile: fs.String("sip2-password-file", "", "file holding the SIP account's password (one line; keep it 0600)"),
			location:     fs.String("sip2-location", "", "the SIP location code the ILS expects in the login (CP), if any"),
			institution:  fs.String("sip2-institution", "", "the institution ID (AO) sent with each patron request, if the ILS needs one"),
			timeout:      fs.Duration("sip2-timeout", 5*time.Second, "how long a card sign-in waits for the ILS before it says card sign-in is unavailable"),
			conns: fs.Int("sip2-connections", 4, "SIP2 connections the hub keeps to the ILS; each answers one sign-in at a time "+
				"(an ILS answering in 100 ms: about 10 sign-ins a second each)"),
		},
	}
}

// durationFlag is a flag of a length of time that also takes days (cli.Duration).
func durationFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := def
	fs.Var(cli.Duration{D: &d}, name, usage)
	return &d
}

// config is the SIP2 client's configuration, nil without --sip2.
func (f sip2Flags) config() (*sip2.Config, error) {
	if *f.addr == "" {
		return nil, nil
	}
	if *f.conns < 1 || *f.conns > 64 {
		return nil, fmt.Errorf("--sip2-connections %d: want 1 to 64", *f.conns)
	}
	name := *f.profile
	if strings.EqualFold(name, "sirsi") {
		name = sip2.ProfileSirsiDynix
	}
	if !slices.Contains(sip2.ProfileNames(), strings.ToLower(name)) {
		return nil, fmt.Errorf("--sip2-profile %q: want one of %s", name, strings.Join(sip2.ProfileNames(), ", "))
	}
	prof, err := sip2.ProfileByName(name)
	if err != nil {
		return nil, err
	}
	c := &sip2.Config{Addr: *f.addr, Profile: prof, User: *f.user, Location: *f.location, Institution: *f.institution, Timeout: *f.timeout, PoolSize: *f.conns}
	if *f.passwordFile != "" {
		b, err := os.ReadFile(*f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--sip2-password-file: %w", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
	}
	if *f.tls {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if *f.ca != "" {
			pem, err := os.ReadFile(*f.ca)
			if err != nil {
				return nil, fmt.Errorf("--sip2-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--sip2-ca %s: no PEM certificate in it", *f.ca)
			}
			c.TLS.RootCAs = pool
		}
	} else if *f.ca != "" {
		return nil, fmt.Errorf("--sip2-ca needs --sip2-tls")
	}
	return c, nil
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
	ils, err := f.sip2.config()
	if err != nil {
		return err
	}
	dir, err := openDirectory(*f.data)
	if err != nil {
		return err
	}
	cfg := hub.Config{DataDir: *f.data, Listen: *f.listen, Names: cli.SplitList(*f.names), KeepEvents: *f.keepEvents, KeepSessions: *f.keepSessions, Version: version, SIP2: ils}
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
