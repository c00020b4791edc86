// Command carrel-agent is the Carrel service that runs on every patron PC.
//
// main only parses and dispatches: the subcommands are the table in main, each
// one's flags are parsed in its own file of this package, and the work is done
// by a package under agent/ (the running agent itself is agent.New and Run).
package main

import (
	"context"
	"io"
	"os"

	"github.com/carrel-kiosk/carrel/agent/execguard"
	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/cli"
)

// version, commit and date are set at build time (cli.VersionLine says how);
// version is handed to agent.New (the status and agent.started), and all
// three are printed by `version`.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// commands is every subcommand, in the order of the help.
func commands() []cli.Command {
	return []cli.Command{
		{Name: "run", Summary: "run the agent in the foreground (what the service runs)", Run: cmdRun},
		{Name: "enroll", Summary: "enroll this PC with a hub (--hub, --token, --fingerprint)", Run: cmdEnroll},
		{Name: "config", Summary: "print an example configuration (config example) or check one (config check)", Run: cmdConfig},
		{Name: "install", Summary: "install and start the service; enroll with --hub, --fingerprint, --token", Run: cmdInstall},
		{Name: "uninstall", Summary: "stop and remove the service (--purge: also its state and config)", Run: cmdUninstall},
		{Name: "start", Summary: "start the installed service", Run: cmdControl("start")},
		{Name: "stop", Summary: "stop the service", Run: cmdControl("stop")},
		{Name: "restart", Summary: "restart the service", Run: cmdControl("restart")},
		{Name: "status", Summary: "show whether the service is installed, running and enrolled", Run: cmdStatus},
		{Name: "service", Summary: "(used by the service manager) run as the installed service", Run: cmdService},
		{Name: "scan", Summary: "judge files with the download classifier (a table; --json for scripts)", Run: runScan},
		{Name: "selftest", Summary: "prove this PC's guards now with harmless canaries (--json; --help lists the checks)", Run: cmdSelfTest},
		{Name: "wipe", Summary: "wipe one patron home now, as the agent does at logout", Run: runWipe},
		{Name: "template", Summary: "capture the fresh patron profile that every wipe recreates", Run: runTemplate},
		{Name: overlay.HelperArg, Summary: "(started by the service) the lock screen and messages in a patron's session", Run: runSessionHelper},
	}
}

// newProgram is the command line: the header, the table and the footer.
func newProgram() *cli.Program {
	p := &cli.Program{
		Name:    "carrel-agent",
		Version: cli.VersionLine(version, commit, date),
		Header: `carrel-agent: the Carrel service for public PCs. It blocks untrusted downloads,
wipes the patron's session at logout, obeys staff commands and reports to the hub.

Usage: carrel-agent COMMAND [options]   (carrel-agent COMMAND --help for its options)

Commands:`,
		Footer: `Logs: the system journal (Linux), %ProgramData%\Carrel\agent.log (Windows), the unified log (macOS).`,
	}
	for _, c := range commands() {
		p.Register(c)
	}
	return p
}

func main() {
	// The exec guard's fanotify helper is this binary started with HelperArg: it
	// must answer exec permission events without ever forking, so it runs before
	// anything else (see agent/execguard).
	if len(os.Args) > 1 && os.Args[1] == execguard.HelperArg {
		os.Exit(execguard.HelperMain(os.Stdin, os.Stdout))
	}
	newProgram().Main()
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return newProgram().Dispatch(ctx, args, stdout, stderr)
}
