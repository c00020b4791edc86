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
	"os/user"
	"path/filepath"
	"strings"

	"github.com/carrel-kiosk/carrel/internal/cli"
	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// program is carrel-hub's command table, written out in one place.
var program = newProgram()

func newProgram() *cli.Program {
	p := &cli.Program{
		Name:    "carrel-hub",
		Version: versionLine(),
		Footer:  "Every command takes --help. The data directory is --data, else $CARREL_HUB_DATA, else " + defaultData + ".",
	}
	for _, c := range []cli.Command{
		{Name: "serve", Summary: "run the hub (agents connect here)", Run: runServe},
		{Name: "token", Summary: "create an enrollment token: token create --uses N --ttl D", Run: runToken},
		{Name: "terminals", Summary: "list enrolled terminals", Run: runTerminals},
		{Name: "branch", Summary: "move a terminal to a branch: branch TERMINAL NAME (\"\" for none)", Run: runBranch},
		{Name: "wake", Summary: "wake PCs by Wake-on-LAN, relayed by an awake PC on each one's subnet: wake TERMINAL...", Run: runWake},
		{Name: "guest", Summary: "make guest passes: " + guestUsage, Run: runGuest},
		{Name: "rules", Summary: "show or set a branch's time rules (rules --help)", Run: runRules},
		{Name: "hours", Summary: "show or set a branch's opening hours and closed dates (hours --help)", Run: runHours},
		{Name: "revoke", Summary: "revoke a terminal's certificate and drop its connection", Run: runRevoke},
		{Name: "command", Summary: "send a command to a terminal through the running hub", Run: runCommand},
		{Name: "report", Summary: "usage counts: report --from DATE --to DATE --by day|week|month, or --imls YEAR", Run: runReport},
		{Name: "export", Summary: "everything kept about a PC, as JSON: export --terminal PC", Run: runExport},
		{Name: "erase", Summary: "delete what is kept about a PC taken out of service: erase --terminal PC", Run: runErase},
		{Name: "backup", Summary: "write a consistent copy of the database to a file", Run: runBackup},
		{Name: "restore", Summary: "replace the database of a stopped hub with a checked backup: restore FILE --data DIR", Run: runRestore},
		{Name: "install", Summary: "install and start the hub as a service (Linux without the .deb, Windows)", Run: runInstall},
		{Name: "uninstall", Summary: "stop and remove the service (--purge: also the data directory)", Run: runUninstall},
		{Name: "start", Summary: "start the installed service", Run: runControl("start")},
		{Name: "stop", Summary: "stop the service", Run: runControl("stop")},
		{Name: "status", Summary: "say whether the service is installed and running", Run: runStatus},
		{Name: "service", Summary: "(run by the service manager) serve as the installed service", Hidden: true, Run: runService},
		{Name: "audit", Summary: "check the audit log: audit verify", Run: runAudit},
		{Name: "directory", Summary: "check the staff directory settings (LDAP, Active Directory): directory check --user NAME", Run: runDirectory},
		{Name: "apikey", Summary: "read-only API keys: apikey create --name N [--branch B], list, revoke", Run: runAPIKey},
		{Name: "webhook", Summary: "signed webhooks of the API's events: webhook add --url U, list, remove", Run: runWebhook},
		{Name: "admin", Summary: "staff accounts: admin create, list, unlock, reset-totp (admin --help)", Run: runAdmin},
	} {
		p.Register(c)
	}
	return p
}

func main() { program.Main() }

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return program.Dispatch(ctx, args, stdout, stderr)
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
	// What the CLI writes to the audit log is keyed like the hub's rows.
	if err := hub.UseAuditKey(st, filepath.Join(dir, store.AuditKeyFile)); err != nil {
		st.Close()
		return nil, nil, err
	}
	// Run as root on the data of a hub that runs as its own user (the .deb's
	// carrel-hub), a database or audit key made here must stay its.
	for _, f := range []string{hub.DBFile, store.AuditKeyFile} {
		if err := ownLike(filepath.Join(dir, f), dir); err != nil {
			st.Close()
			return nil, nil, err
		}
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
