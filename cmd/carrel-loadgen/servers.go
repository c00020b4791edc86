package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/loadgen"
)

// hubCommand is how storm and baseline start the hub: carrel-hub serve, or this
// binary's profiling hub when --hub-bin is "self".
func hubCommand(bin, data, listen, profileDir string) ([]string, error) {
	if bin == "self" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		argv := []string{exe, "hub", "--data", data, "--listen", listen}
		if profileDir != "" {
			argv = append(argv, "--cpuprofile", filepath.Join(profileDir, "hub-cpu.pprof"), "--heapprofile", filepath.Join(profileDir, "hub-heap.pprof"))
		}
		return argv, nil
	}
	return []string{bin, "serve", "--data", data, "--listen", listen}, nil
}

func logFile(path string) (io.Writer, func(), error) {
	if path == "" {
		return io.Discard, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func runStorm(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("storm", "--hub-bin BIN --hub-data DIR --listen 127.0.0.1:PORT --dir DIR --n N", `
Starts the hub (BIN serve --data DIR --listen ADDR), connects N enrolled agents,
lets events flow for --settle, SIGKILLs the hub and starts it again at once,
and measures from the kill until every agent has been welcomed by the new hub
and the hub counts all of them online (target: --target). With --baseline
(the default) it first connects the N agents at once to the bare server and
times it, so the storm reads as a ratio. Then events flow for
--after, every outbox is drained, and the hub database is checked: every event
each agent's outbox numbered in this run is stored exactly once.`, stderr)
	ff := addFleetFlags(fs, 50)
	hubBin := fs.String("hub-bin", "carrel-hub", `carrel-hub binary ("self": this binary's in-process hub)`)
	hubData := fs.String("hub-data", "", "the hub's data directory")
	listen := fs.String("listen", "127.0.0.1:18444", "hub listen address")
	hubLog := fs.String("hub-log", "", "append the hub's output here (default: discarded)")
	settle := fs.Duration("settle", 15*time.Second, "events flowing before the kill")
	after := fs.Duration("after", 10*time.Second, "events flowing after everyone is back")
	target := fs.Duration("target", loadgen.TargetStorm, "all back within this is the target")
	baseline := fs.Bool("baseline", true, "first, in the same session, time N fresh connections to the bare server (echo-server) at once: the storm is printed as a ratio of it")
	echoListen := fs.String("echo-listen", "127.0.0.1:18445", "bare server listen address (with --baseline)")
	profDir := fs.String("hub-profile", "", `with --hub-bin self: write the hub's CPU profile and, at each SIGUSR1 to it, heap profile and goroutines into this directory`)
	fo, c := parseHubFleet(fs, args, ff, hubData)
	if c >= 0 {
		return c
	}
	argv, err := hubCommand(*hubBin, *hubData, *listen, *profDir)
	if err != nil {
		return fail(stderr, err)
	}
	lw, closeLog, err := logFile(*hubLog)
	if err != nil {
		return fail(stderr, err)
	}
	defer closeLog()
	so := loadgen.StormOptions{Fleet: fo, HubCmd: argv, HubData: *hubData, HubLog: lw,
		Settle: *settle, After: *after, Target: *target, Out: stdout}
	if *baseline {
		exe, err := os.Executable()
		if err != nil {
			return fail(stderr, err)
		}
		so.EchoCmd, so.EchoListen = []string{exe, "echo-server", "--hub-data", *hubData, "--listen", *echoListen}, *echoListen
	}
	res, err := loadgen.Storm(ctx, so)
	if err != nil {
		fmt.Fprintf(stdout, "\n== storm (incomplete)\n%s\n", res)
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "\n== storm summary\n%s\n", res)
	return 0
}

func runEcho(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("echo-server", "--hub-data DIR --listen 127.0.0.1:PORT", `
A bare gorilla/websocket server on the hub's mutual TLS (the hub CA's server
certificate; client certificates required and checked against the hub CA). One
goroutine per connection reads every frame; a Hello gets a Welcome so the real
link clients stay connected; nothing is stored or acknowledged. Runs until
interrupted. 'baseline' starts it by itself.`, stderr)
	hubData := fs.String("hub-data", "", "the hub's data directory (CA and server certificate)")
	listen := fs.String("listen", "127.0.0.1:18445", "listen address")
	buf := fs.Int("buf", 1024, "websocket read and write buffer size (the hub uses 1024)")
	noPool := fs.Bool("no-write-pool", false, "a write buffer per connection instead of a pool shared by all (the hub pools)")
	if c := parse(fs, args); c >= 0 {
		return c
	}
	if c := required(fs, map[string]string{"hub-data": *hubData}); c >= 0 {
		return c
	}
	if err := loadgen.EchoServer(ctx, loadgen.EchoOptions{HubData: *hubData, Listen: *listen, BufSize: *buf, NoWritePool: *noPool, Out: stdout}); err != nil {
		return fail(stderr, err)
	}
	return 0
}

func runBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("baseline", "--hub-bin BIN --hub-data DIR --dir DIR --n N", `
In one run: starts the bare server (echo-server) and holds N connections of the
real link clients on it, reading its RSS idle and held after --settle; stops it;
then does the same with the hub (BIN serve). Prints the resident memory per
connection of each and the ratio (target: the hub within 2× of the bare server).
Statuses flow every --status-interval; no events.`, stderr)
	ff := addFleetFlags(fs, 0)
	hubBin := fs.String("hub-bin", "carrel-hub", `carrel-hub binary ("self": this binary's in-process hub)`)
	hubData := fs.String("hub-data", "", "the hub's data directory")
	hubListen := fs.String("listen", "127.0.0.1:18444", "hub listen address")
	echoListen := fs.String("echo-listen", "127.0.0.1:18445", "bare server listen address")
	buf := fs.Int("buf", 1024, "bare server websocket buffers (the hub uses 1024)")
	settle := fs.Duration("settle", 20*time.Second, "connections held before the reading")
	hubLog := fs.String("hub-log", "", "append the servers' output here (default: discarded)")
	fo, c := parseHubFleet(fs, args, ff, hubData)
	if c >= 0 {
		return c
	}
	argv, err := hubCommand(*hubBin, *hubData, *hubListen, "")
	if err != nil {
		return fail(stderr, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(stderr, err)
	}
	lw, closeLog, err := logFile(*hubLog)
	if err != nil {
		return fail(stderr, err)
	}
	defer closeLog()
	res, err := loadgen.Baseline(ctx, loadgen.BaselineOptions{Fleet: fo, HubCmd: argv, HubListen: *hubListen,
		EchoCmd:    []string{exe, "echo-server", "--hub-data", *hubData, "--listen", *echoListen, "--buf", fmt.Sprint(*buf)},
		EchoListen: *echoListen, HubData: *hubData, Settle: *settle, Out: stdout, HubLog: lw})
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "\n== baseline summary\n%s\n", res)
	return 0
}

func runHub(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("hub", "--data DIR --listen 127.0.0.1:PORT [--cpuprofile F] [--heapprofile F]", `
Runs the real hub (internal/hub, as carrel-hub serve does) in this process,
with profiling carrel-hub does not have: a CPU profile over the whole run (or,
with --profile-on-signal, between two SIGUSR2s) and a heap profile at each
SIGUSR1 and at the end. Read them with 'go tool pprof'. Logs at warn level.`, stderr)
	data := fs.String("data", "", "hub data directory")
	listen := fs.String("listen", "127.0.0.1:18444", "listen address")
	cpu := fs.String("cpuprofile", "", "CPU profile file")
	heap := fs.String("heapprofile", "", "heap profile file")
	onSig := fs.Bool("profile-on-signal", false, "CPU profile only between two SIGUSR2s")
	if c := parse(fs, args); c >= 0 {
		return c
	}
	if c := required(fs, map[string]string{"data": *data}); c >= 0 {
		return c
	}
	if err := loadgen.RunHub(ctx, loadgen.HubOptions{Data: *data, Listen: *listen, CPUProfile: *cpu, HeapProfile: *heap,
		ProfileOnSignal: *onSig, Log: stderr}); err != nil {
		return fail(stderr, err)
	}
	return 0
}
