// Command carrel-hub is the Carrel server that patron-PC agents dial into, and
// the IT person's tool to run it: serve, create enrollment tokens, list and revoke
// terminals, send commands, back up, and verify the audit log.
//
// main only parses flags and calls internal/hub, internal/store and internal/pki.
// Exit codes: 0 success, 1 failure, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"serve":     {"run the hub (agents connect here)", runServe},
	"token":     {"create an enrollment token: token create --uses N --ttl D", runToken},
	"terminals": {"list enrolled terminals", runTerminals},
	"revoke":    {"revoke a terminal's certificate and drop its connection", runRevoke},
	"command":   {"send a command to a terminal through the running hub", runCommand},
	"backup":    {"write a consistent copy of the database to a file", runBackup},
	"audit":     {"check the audit log: audit verify", runAudit},
	"admin":     {"staff accounts: admin create --user U --role admin|desk, admin list", runAdmin},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "carrel-hub", version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "carrel-hub: unknown command %q; run 'carrel-hub --help' for the list\n", args[0])
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: carrel-hub COMMAND [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --help. The data directory is --data, else $CARREL_HUB_DATA, else "+defaultData+".")
}

// newFlags makes a subcommand's flag set with --data; parse returns the exit code
// to use (-1 to go on).
func newFlags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("carrel-hub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("CARREL_HUB_DATA")
	if def == "" {
		def = defaultData
	}
	data := fs.String("data", def, "hub data directory (CA, keys, database)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: carrel-hub %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs, data
}

func parse(fs *flag.FlagSet, args []string, nargs func(int) bool) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if nargs != nil && !nargs(fs.NArg()) {
		fs.Usage()
		return 2
	}
	return -1
}

func exactly(n int) func(int) bool { return func(got int) bool { return got == n } }

// openExisting opens the CA and store of a hub that has been started once.
func openExisting(dir string) (*pki.CA, *store.Store, error) {
	ca, err := pki.Open(dir)
	if errors.Is(err, pki.ErrNoCA) {
		return nil, nil, fmt.Errorf("no hub data in %s: run 'carrel-hub serve' first to create the CA", dir)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(filepath.Join(dir, hub.DBFile))
	if err != nil {
		return nil, nil, err
	}
	return ca, st, nil
}

// localActor names the person running the CLI in the audit log.
func localActor() string {
	if u, err := user.Current(); err == nil {
		return "local:" + u.Username
	}
	return "local:uid " + fmt.Sprint(os.Getuid())
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "carrel-hub:", strings.TrimPrefix(err.Error(), "carrel-hub: "))
	return 1
}
