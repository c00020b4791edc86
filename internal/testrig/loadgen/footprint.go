package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// FootprintOptions configure Footprint.
type FootprintOptions struct {
	AgentBin string        // the carrel-agent binary
	Config   string        // its configuration file (an enrolled agent)
	Duration time.Duration // how long to sample
	Interval time.Duration // between samples; default 1s
	Warmup   time.Duration // samples in the first Warmup are reported apart; default 10s
	AgentLog io.Writer     // the agent's stdout and stderr; nil discards
	Out      io.Writer     // progress lines
	// Burst, if Files > 0, is written once the warm-up is over (downloads for
	// the agent's guard to judge while it is sampled).
	Burst BurstOptions
}

// FootprintResult summarises the samples taken after the warm-up.
type FootprintResult struct {
	Samples    int
	MeanRSS    int64
	MaxRSS     int64
	MeanCPU    float64 // percent of one core, CPU time over wall time of the window
	MaxCPU     float64 // the busiest single interval
	Window     time.Duration
	StartupRSS int64 // max RSS during the warm-up
	Threads    int
	OpenFDs    int
}

func (r FootprintResult) String() string {
	return fmt.Sprintf("agent footprint over %v (%d samples after warm-up): RSS mean %.1f MB, max %.1f MB; CPU mean %.3f%% of one core, busiest %v interval %.1f%%; threads %d, open files %d; max RSS during warm-up %.1f MB",
		r.Window.Round(time.Second), r.Samples, mb(r.MeanRSS), mb(r.MaxRSS), r.MeanCPU, time.Second, r.MaxCPU, r.Threads, r.OpenFDs, mb(r.StartupRSS))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// Footprint starts `AgentBin run --config Config`, samples its RSS and CPU from
// /proc every Interval for Duration, stops it (SIGTERM) and summarises. The agent
// exiting early is an error.
func Footprint(ctx context.Context, opt FootprintOptions) (FootprintResult, error) {
	var res FootprintResult
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	if opt.Warmup < 0 || opt.Warmup >= opt.Duration {
		opt.Warmup = 0
	} else if opt.Warmup == 0 {
		opt.Warmup = min(10*time.Second, opt.Duration/10)
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	cmd := exec.Command(opt.AgentBin, "run", "--config", opt.Config)
	if opt.AgentLog != nil {
		cmd.Stdout, cmd.Stderr = opt.AgentLog, opt.AgentLog
	}
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			return errors.Join(errors.New("agent did not stop within 10s of SIGTERM"), <-exited)
		}
	}
	pid := cmd.Process.Pid
	start := time.Now()
	t := time.NewTicker(opt.Interval)
	defer t.Stop()
	var first, prev ProcSample
	var sumRSS int64
	lastPrint := start
	for {
		select {
		case <-ctx.Done():
			stop()
			return res, ctx.Err()
		case err := <-exited:
			return res, fmt.Errorf("the agent exited after %v: %v", time.Since(start).Round(time.Second), err)
		case <-t.C:
		}
		s, err := SampleProc(pid)
		if err != nil {
			stop()
			return res, err
		}
		if s.At.Sub(start) < opt.Warmup {
			res.StartupRSS = max(res.StartupRSS, s.RSS)
			prev = s
			continue
		}
		if res.Samples == 0 && opt.Burst.Files > 0 {
			go func() {
				t0 := time.Now()
				n, err := Burst(ctx, opt.Burst)
				fmt.Fprintf(opt.Out, "footprint: burst of %d downloads (%d bytes each) written in %v (err %v)\n", n, opt.Burst.Size, time.Since(t0).Round(time.Millisecond), err)
			}()
		}
		if res.Samples == 0 {
			first = prev
			if first.At.IsZero() {
				first = s
			}
		} else {
			res.MaxCPU = max(res.MaxCPU, CPUPercent(prev, s))
		}
		res.Samples++
		sumRSS += s.RSS
		res.MaxRSS = max(res.MaxRSS, s.RSS)
		res.Threads, res.OpenFDs = s.Threads, s.OpenFDs
		res.Window = s.At.Sub(first.At)
		res.MeanCPU = CPUPercent(first, s)
		res.MeanRSS = sumRSS / int64(res.Samples)
		prev = s
		if s.At.Sub(lastPrint) >= time.Minute {
			lastPrint = s.At
			fmt.Fprintf(opt.Out, "footprint: %v in: RSS now %.1f MB, CPU so far %.3f%% (load %s)\n",
				s.At.Sub(start).Round(time.Second), mb(s.RSS), res.MeanCPU, Load1())
		}
		if s.At.Sub(start) >= opt.Duration {
			break
		}
	}
	if err := stop(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return res, err
		}
		fmt.Fprintf(opt.Out, "footprint: agent exit after SIGTERM: %v\n", err)
	}
	return res, nil
}
