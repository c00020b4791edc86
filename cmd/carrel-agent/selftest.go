package main

// The selftest subcommand: prove this PC's guards now, as the service does
// each night (agent/selftest).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/selftest"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// selfTestOutput is the JSON selftest --json prints.
type selfTestOutput struct {
	Started time.Time        `json:"started"`
	TookMs  int64            `json:"took_ms"`
	OS      string           `json:"os"`
	Proven  bool             `json:"proven"` // no check failed
	Results []selfTestResult `json:"results"`
}

type selfTestResult struct {
	Check   string                   `json:"check"`
	Outcome protocol.SelfTestOutcome `json:"outcome"`
	Reason  string                   `json:"reason"`
}

// selfTestHelp is the help's list of checks: what each proves and what it
// does on this OS.
func selfTestHelp() string {
	var b strings.Builder
	for _, c := range selftest.Checks() {
		fmt.Fprintf(&b, "  %s\n      proves: %s\n", c.Name, c.Proves)
		if how, ok := c.Applies(runtime.GOOS); ok {
			fmt.Fprintf(&b, "      here:   %s\n", how)
		} else {
			fmt.Fprintf(&b, "      here:   not applicable on %s\n", runtime.GOOS)
		}
	}
	return b.String()
}

func cmdSelfTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath(), "configuration file")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	only := fs.String("only", "", "comma-separated checks to run (default: all)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: carrel-agent selftest [--config PATH] [--json] [--only CHECKS]

Proves, on this PC, that each guard of the running agent holds, using
harmless canaries; the service runs the same each night and when staff ask
from the console (its result goes to the hub; this one is only printed).
Run it as the service's user (root / an administrator) while the service runs.

Each check ends as "pass", "fail" (with the reason), "not-applicable" (no such
guard on this OS) or "not-testable" (it applies but cannot be tried now, and
says why). Nothing is skipped silently. Canaries are written only into a
shared temp dir the guards cover (never a patron's home), named
%s..., and a canary account (Linux: carrel-canary, no password,
no shell) is made and removed again; nothing touches patron data or a real
account. A self-test that is killed leaves a
ledger in the state dir and its canaries are removed at the next run or
agent start.

Exit status: 0 when no check failed, 1 when one did, 2 on a usage or
configuration error, 3 when another self-test is running.

Checks, in the order they run:
%s
Options:
`, selftest.CanaryPrefix, selfTestHelp())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "carrel-agent selftest: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent selftest:", err)
		return 2
	}
	checks := selftest.Checks()
	if *only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			want[strings.TrimSpace(n)] = true
		}
		var picked []selftest.Check
		for _, c := range checks {
			if want[c.Name] {
				picked = append(picked, c)
				delete(want, c.Name)
			}
		}
		for n := range want {
			fmt.Fprintf(stderr, "carrel-agent selftest: no check named %q (see --help)\n", n)
			return 2
		}
		checks = picked
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	if level < slog.LevelWarn {
		level = slog.LevelWarn // the report says what each check did
	}
	env := &selftest.Env{Config: cfg, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	rep, err := selftest.Run(ctx, env, checks)
	if errors.Is(err, selftest.ErrBusy) {
		fmt.Fprintln(stderr, "carrel-agent selftest: another self-test is running on this PC; try again in a minute")
		return 3
	}
	if err != nil {
		fmt.Fprintln(stderr, "carrel-agent selftest:", err)
		return 2
	}
	out := selfTestOutput{Started: rep.Started.UTC(), TookMs: rep.Took.Milliseconds(), OS: runtime.GOOS, Proven: len(rep.Failed()) == 0}
	for _, r := range rep.Results {
		out.Results = append(out.Results, selfTestResult{r.Check, r.Outcome, r.Reason})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tRESULT\tWHAT IT SAW")
		for _, r := range rep.Results {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Check, r.Outcome.Text(), r.Reason)
		}
		tw.Flush()
		if out.Proven {
			fmt.Fprintf(stdout, "\nProven: no check failed (%s).\n", rep.Took.Round(time.Millisecond))
		} else {
			fmt.Fprintf(stdout, "\nNOT proven: %s failed.\n", strings.Join(rep.Failed(), ", "))
		}
	}
	if !out.Proven {
		return 1
	}
	return 0
}
