//go:build cgo || ci

// Command carrel-console is the Carrel staff console: the room of patron PCs,
// their detail and actions, events and alerts, and the admin screens. It is a
// client of a hub's staff API, or runs the hub itself ("this computer is the
// hub"). The screens live in console/ui; this file only reads flags.
//
// It needs cgo (OpenGL through GLFW). A CGO_ENABLED=0 build of the whole module
// still succeeds: it gets main_nocgo.go, which only says so.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"fyne.io/fyne/v2"

	"fyne.io/fyne/v2/app"

	"github.com/carrel-kiosk/carrel/console/embedded"
	"github.com/carrel-kiosk/carrel/console/hubclient"
	"github.com/carrel-kiosk/carrel/console/ui"
	"github.com/carrel-kiosk/carrel/internal/auditwatch"
	"github.com/carrel-kiosk/carrel/internal/cli"
)

const usage = `carrel-console: the Carrel staff console.

Usage:
  carrel-console [--hub URL --fingerprint FP]
  carrel-console --embedded-hub DIR [--embedded-listen ADDR] [--embedded-name HOST]

With --hub and --fingerprint the console goes straight to the login screen of
that hub. The fingerprint is the hub's CA fingerprint (carrel-hub prints it at
start and "carrel-hub token create" shows it): the console trusts only a hub
whose certificate chains to that CA.

With --embedded-hub this computer is the hub: the console starts one with its
data (CA, database) in DIR and agents enroll against this computer on
--embedded-listen, dialling it by --embedded-name (this computer's name on the
library's network: the enrollment lines use it). Without either, the console
asks which hub to use.

On a hub with no staff account yet the console opens on first-run setup: enter
the setup code the hub printed (it is also in the file setup-code in the hub's
data directory) to create the first admin and enroll an authenticator app.
The login and setup screens name the hub and its CA fingerprint.

The console keeps the highest signed audit head of each hub it logged in to
(carrel/console/audit-heads.json in the user's configuration directory) and
shows a red alarm when a hub's audit log goes backwards or is rewritten.

Flags:
`

// version, commit and date are set at build time (cli.VersionLine says how).
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() {
	fs := flag.NewFlagSet("carrel-console", flag.ExitOnError)
	showVersion := fs.Bool("version", false, "print the version, commit and build date")
	hubURL := fs.String("hub", "", "hub address, e.g. https://hub.library.example:8443")
	fingerprint := fs.String("fingerprint", "", "the hub's CA fingerprint (SHA-256, hex)")
	embeddedDir := fs.String("embedded-hub", "", "run the hub inside the console with its data in `DIR`")
	embeddedListen := fs.String("embedded-listen", ":8443", "where an embedded hub listens for agents")
	embeddedName := fs.String("embedded-name", "", "comma-separated names or IPs the library's PCs reach an embedded hub by (the first is used in enrollment lines)")
	verbose := fs.Bool("v", false, "log debug messages")
	hooks := testHooks(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("carrel-console", cli.VersionLine(version, commit, date))
		return
	}
	if err := needDisplay(runtime.GOOS, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "carrel-console:", err)
		os.Exit(1)
	}
	if fs.NArg() > 0 || (*hubURL == "") != (*fingerprint == "") {
		fs.Usage()
		os.Exit(2)
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfgDir, cfgErr := os.UserConfigDir()
	dir := *embeddedDir
	if dir == "" && cfgErr == nil {
		dir = filepath.Join(cfgDir, "carrel", "hub")
	}
	// The highest audit head seen of each hub, to notice a rewound or
	// rewritten audit log.
	var heads *auditwatch.Keeper
	if cfgErr == nil {
		var err error
		if heads, err = auditwatch.Open(filepath.Join(cfgDir, "carrel", "console", auditwatch.FileName)); err != nil {
			log.Error("Audit heads not kept", "err", err)
		}
	}
	starter := &embedded.Starter{DataDir: dir, Listen: *embeddedListen, Names: cli.SplitList(*embeddedName), Version: version,
		Log: log.With("component", "hub")}
	client := hubclient.New(log.With("component", "hubclient"), hubclient.Options{})
	defer client.Close()

	opts := ui.Options{Log: log, HubURL: *hubURL, Fingerprint: *fingerprint,
		Embedded: starter.Start, StartEmbedded: *embeddedDir != "", SetupCode: starter.SetupCode, AuditHeads: heads}
	hooks(&opts)

	a := app.NewWithID("org.carrel.console")
	w := a.NewWindow("Carrel")
	u := ui.Create(a, w, client, opts)
	quitOnSignal(a, log)
	w.ShowAndRun()
	u.Close()
	starter.Wait()
}

// quitOnSignal ends the console on SIGINT or SIGTERM (a desktop session that
// ends, a service manager, Ctrl-C): the app quits through Fyne so the embedded
// hub and the hub link close cleanly, and the process exits regardless if that
// has not finished within a few seconds.
func quitOnSignal(a fyne.App, log *slog.Logger) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		log.Info("Console stopping", "signal", s.String())
		time.AfterFunc(3*time.Second, func() {
			log.Warn("Console did not stop in time; exiting")
			os.Exit(1)
		})
		fyne.Do(a.Quit)
	}()
}

// needDisplay says, in one line, why the console cannot open a window: on
// Linux and the BSDs a window needs an X or Wayland display (Fyne would
// otherwise stop with a stack trace).
func needDisplay(goos string, getenv func(string) string) error {
	switch goos {
	case "windows", "darwin", "android", "ios":
		return nil
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("no display: DISPLAY and WAYLAND_DISPLAY are not set; run it in a desktop session (or under xvfb-run for a test)")
	}
	return nil
}
