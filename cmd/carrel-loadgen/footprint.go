package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/loadgen"
)

func runFootprint(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("footprint", "--agent-bin BIN --config CFG [--duration 10m]", `
Starts 'BIN run --config CFG' (an enrolled agent), samples its resident memory
and CPU time from /proc every --interval for --duration, stops it with SIGTERM
and prints the mean and maximum. The first --warmup is reported apart.`, stderr)
	bin := fs.String("agent-bin", "", "carrel-agent binary")
	cfg := fs.String("config", "", "the agent's configuration file")
	dur := fs.Duration("duration", 10*time.Minute, "how long to sample")
	interval := fs.Duration("interval", time.Second, "between samples")
	warmup := fs.Duration("warmup", 10*time.Second, "start-up period reported apart")
	agentLog := fs.String("agent-log", "", "file for the agent's output (default: discarded)")
	burstDir := fs.String("burst-dir", "", "after the warm-up, write a burst of downloads here (a folder the agent's download guard watches)")
	burstFiles := fs.Int("burst-files", 200, "downloads in the burst (every other one an .exe the guard blocks)")
	burstSize := fs.Int("burst-size", 1<<20, "bytes per download")
	burstOver := fs.Duration("burst-over", 20*time.Second, "the burst is spread over this long")
	if c := parse(fs, args); c >= 0 {
		return c
	}
	if c := required(fs, map[string]string{"agent-bin": *bin, "config": *cfg}); c >= 0 {
		return c
	}
	opt := loadgen.FootprintOptions{AgentBin: *bin, Config: *cfg, Duration: *dur, Interval: *interval, Warmup: *warmup, Out: stdout}
	if *burstDir != "" {
		opt.Burst = loadgen.BurstOptions{Dir: *burstDir, Files: *burstFiles, Size: *burstSize, Over: *burstOver}
	}
	if *agentLog != "" {
		f, err := os.Create(*agentLog)
		if err != nil {
			return fail(stderr, err)
		}
		defer f.Close()
		opt.AgentLog = f
	}
	fmt.Fprintf(stdout, "footprint: sampling %s run --config %s for %v (load %s)\n", *bin, *cfg, *dur, loadgen.Load1())
	res, err := loadgen.Footprint(ctx, opt)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintln(stdout, res)
	fmt.Fprintf(stdout, "%s (load at end %s)\n", loadgen.Verdicts(res.Verdicts()...), loadgen.Load1())
	return 0
}
