package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/loadgen"
)

func runEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("enroll", "(--hub URL --token T --fingerprint F | --hub-data DIR) --n N --dir DIR", `
Gives agents 0..N-1 an identity each under DIR/agents/aNNNNN with the agent's
own enrollment code (link.Enroll: key made here, CSR and token to the hub, CA
pinned by fingerprint). Agents that already have one are skipped, so the same
DIR serves later runs.

With --hub/--token/--fingerprint it enrolls against a running hub; a hub with
default settings allows 10 enrollments a minute from one address (refusals are
retried after a minute), which is too slow for thousands from 127.0.0.1. With
--hub-data it runs the hub in this process on that data directory (stop
carrel-hub serve first) with the enrollment rate limit lifted, creates a token
for N uses in its store and enrolls through it.`, stderr)
	hubURL := fs.String("hub", "", "hub URL, wss://127.0.0.1:PORT")
	token := fs.String("token", "", "enrollment token with at least N uses")
	fp := fs.String("fingerprint", "", "the hub CA's fingerprint")
	hubData := fs.String("hub-data", "", "enroll through an in-process hub on this data directory instead")
	n := fs.Int("n", 100, "number of agents")
	dir := fs.String("dir", "", "state directory of the simulated agents")
	conc := fs.Int("concurrency", 8, "enrollments in flight (with --hub)")
	if c := parse(fs, args); c >= 0 {
		return c
	}
	if c := required(fs, map[string]string{"dir": *dir}); c >= 0 {
		return c
	}
	start := time.Now()
	var enrolled, existing int
	var err error
	if *hubData != "" {
		enrolled, existing, err = loadgen.EnrollInProcess(ctx, *hubData, *n, *dir, stdout)
	} else {
		if c := required(fs, map[string]string{"hub": *hubURL, "token": *token, "fingerprint": *fp}); c >= 0 {
			return c
		}
		enrolled, existing, err = loadgen.Enroll(ctx, loadgen.EnrollOptions{HubURL: *hubURL, Token: *token, Fingerprint: *fp,
			N: *n, Dir: *dir, Concurrency: *conc, Out: stdout})
	}
	fmt.Fprintf(stdout, "enroll: %d enrolled, %d already enrolled, in %v\n", enrolled, existing, time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

// fleetFlags are the flags every fleet-running command shares.
type fleetFlags struct {
	dir            *string
	n, perChild    *int
	statusInterval *time.Duration
	eventRate      *float64
	ramp           *time.Duration
	inProcess      *bool
}

// parseHubFleet parses the flags of a command that drives the fleet against a
// hub (run, storm, baseline), where --dir and --hub-data are required. A c of 0
// or more is the exit code to return.
func parseHubFleet(fs *flag.FlagSet, args []string, ff fleetFlags, hubData *string) (fo loadgen.FleetOptions, c int) {
	if c := parse(fs, args); c >= 0 {
		return fo, c
	}
	if c := required(fs, map[string]string{"dir": *ff.dir, "hub-data": *hubData}); c >= 0 {
		return fo, c
	}
	fo, err := ff.options()
	if err != nil {
		return fo, fail(fs.Output(), err)
	}
	return fo, -1
}

func addFleetFlags(fs *flag.FlagSet, defRate float64) fleetFlags {
	return fleetFlags{
		dir:            fs.String("dir", "", "state directory of the enrolled agents (carrel-loadgen enroll)"),
		n:              fs.Int("n", 100, "number of agents"),
		perChild:       fs.Int("per-child", 3500, "agents per child process (each takes two open files; the limit is 20,000 per process)"),
		statusInterval: fs.Duration("status-interval", 5*time.Second, "status period of every agent"),
		eventRate:      fs.Float64("event-rate", defRate, "events a second from the whole fleet"),
		ramp:           fs.Duration("ramp", 10*time.Second, "first connections spread over this"),
		inProcess:      fs.Bool("in-process", false, "run the agents in this process instead of child processes (small N)"),
	}
}

func (f fleetFlags) options() (loadgen.FleetOptions, error) {
	o := loadgen.FleetOptions{Dir: *f.dir, N: *f.n, PerGroup: *f.perChild, StatusInterval: *f.statusInterval,
		EventRate: *f.eventRate, Ramp: *f.ramp}
	if !*f.inProcess {
		exe, err := os.Executable()
		if err != nil {
			return o, err
		}
		o.Exe = exe
	}
	return o, nil
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "--dir DIR --n N --hub-data DIR [--status-interval 5s --event-rate R --duration D --hub-pid PID]", `
Starts N enrolled agents (real link client and outbox each) in child processes
against the running hub whose data directory is --hub-data (its hub.json gives
the address and PID), waits for all to connect, then for --duration prints
every --report: connected agents, the hub's CPU and RSS (from /proc), status-
to-store latency (probe agents set a new status value; the hub's terminal row is
polled through a read-only SQLite connection), and the round trip of a staff
ping sent through the hub's control socket every --command-every. At the end it
stops the events, waits until every outbox is acknowledged, and checks in the
database that every event emitted is stored exactly once.`, stderr)
	ff := addFleetFlags(fs, 20)
	hubData := fs.String("hub-data", "", "the hub's data directory (hub.sock, hub.db, hub.json)")
	hubPID := fs.Int("hub-pid", 0, "the hub's PID (default: from hub.json)")
	hubURL := fs.String("hub", "", "hub URL (default: from hub.json)")
	dur := fs.Duration("duration", time.Minute, "steady window after every agent connected")
	report := fs.Duration("report", 5*time.Second, "print period")
	cmdEvery := fs.Duration("command-every", time.Second, "staff ping period")
	probes := fs.Int("probes", 20, "agents that time status-to-store")
	connectTimeout := fs.Duration("connect-timeout", 5*time.Minute, "give up if not every agent connected by then")
	bareCPU := fs.Float64("bare-cpu", 0, "the bare server's CPU (% of one core) holding the same fleet, from 'baseline' in this session: judges the hub CPU target (≤ 2×)")
	fo, c := parseHubFleet(fs, args, ff, hubData)
	if c >= 0 {
		return c
	}
	fo.HubURL, fo.Probes = *hubURL, *probes
	res, err := loadgen.Run(ctx, loadgen.RunOptions{Fleet: fo, HubData: *hubData, HubPID: *hubPID, Duration: *dur,
		ReportEvery: *report, CommandEvery: *cmdEvery, ConnectTimeout: *connectTimeout, Out: stdout})
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "\n== run summary\n%s\n", res)
	fmt.Fprintln(stdout, loadgen.Verdicts(res.Verdicts(*bareCPU)...))
	return 0
}

func runAgents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("agents", "--spec JSON", "Runs one group of agents; reads control lines on stdin, writes JSON reports on stdout.", stderr)
	specJSON := fs.String("spec", "", "loadgen.GroupSpec as JSON")
	if c := parse(fs, args); c >= 0 {
		return c
	}
	var spec loadgen.GroupSpec
	if err := json.Unmarshal([]byte(*specJSON), &spec); err != nil {
		return fail(stderr, fmt.Errorf("--spec: %w", err))
	}
	ctl := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ctl <- sc.Text()
		}
		close(ctl) // the parent went away or sent stop: end
	}()
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	err := loadgen.RunGroup(ctx, spec, ctl, func(r loadgen.Report) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(r)
	})
	if err != nil {
		enc.Encode(loadgen.Report{Final: true, Err: err.Error()})
		return fail(stderr, err)
	}
	return 0
}
