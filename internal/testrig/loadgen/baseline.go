package loadgen

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// BaselineOptions configure Baseline.
type BaselineOptions struct {
	Fleet      FleetOptions // HubURL is set for each server
	HubCmd     []string     // starts the hub on HubData, listening on HubListen
	HubListen  string
	EchoCmd    []string // starts the echo server (EchoServer) on EchoListen
	EchoListen string
	HubData    string
	Settle     time.Duration // held connections, statuses flowing, before the reading; default 20s
	Out        io.Writer
	HubLog     io.Writer
}

// ServerFootprint is one server holding the fleet.
type ServerFootprint struct {
	Name       string
	IdleRSS    int64 // before any agent connected
	HeldRSS    int64 // with all N connected, after Settle
	CPU        float64
	ConnectDur time.Duration
}

// PerConn is the resident memory each connection added.
func (s ServerFootprint) PerConn(n int) float64 {
	return float64(s.HeldRSS-s.IdleRSS) / float64(max(n, 1))
}

// BaselineResult compares the hub with the bare server, measured in one run.
type BaselineResult struct {
	N          int
	Echo, Hub  ServerFootprint
	LoadStart  string
	LoadMiddle string
	LoadEnd    string
}

// Ratio is the hub's memory per connection over the bare server's.
func (r BaselineResult) Ratio() float64 { return r.Hub.PerConn(r.N) / r.Echo.PerConn(r.N) }

// CPURatio is the hub's CPU while holding the fleet over the bare server's.
func (r BaselineResult) CPURatio() float64 { return r.Hub.CPU / max(r.Echo.CPU, 0.01) }

func (r BaselineResult) String() string {
	var b strings.Builder
	for _, s := range []ServerFootprint{r.Echo, r.Hub} {
		fmt.Fprintf(&b, "%-11s %d connections (connected in %v): RSS %.0f MB idle → %.0f MB held = %.1f KB per connection; CPU while holding %.1f%% of one core\n",
			s.Name, r.N, s.ConnectDur.Round(100*time.Millisecond), mb(s.IdleRSS), mb(s.HeldRSS), s.PerConn(r.N)/1024, s.CPU)
	}
	fmt.Fprintf(&b, "hub / bare: memory per connection %.2f×, CPU while holding %.2f×\n", r.Ratio(), r.CPURatio())
	fmt.Fprintf(&b, "load average: %s at start, %s between, %s at end\n", r.LoadStart, r.LoadMiddle, r.LoadEnd)
	b.WriteString(Verdicts(r.Verdicts()...))
	return b.String()
}

// Baseline holds the same fleet of real link clients first on the bare
// websocket server, then on the hub, one after the other in this run, and reads
// each server's resident memory before and with the connections held.
func Baseline(ctx context.Context, opt BaselineOptions) (BaselineResult, error) {
	res := BaselineResult{N: opt.Fleet.N, LoadStart: Load1()}
	if opt.Settle <= 0 {
		opt.Settle = 20 * time.Second
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	opt.Fleet.EventRate, opt.Fleet.Probes = 0, 0
	hold := func(name string, p *Proc, url string) (ServerFootprint, error) {
		fp := ServerFootprint{Name: name}
		defer p.Stop(15 * time.Second)
		time.Sleep(time.Second) // let the server finish starting before the idle reading (a pause, not a synchronisation)
		s0, err := SampleProc(p.PID())
		if err != nil {
			return fp, err
		}
		fp.IdleRSS = s0.RSS
		f := opt.Fleet
		f.HubURL = url
		start := time.Now()
		fleet, err := StartFleet(ctx, f)
		if err != nil {
			return fp, err
		}
		defer fleet.Stop(time.Minute)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		deadline := time.After(5 * time.Minute)
		for n := 0; fleet.Totals().Connected < f.N; n++ {
			select {
			case <-ctx.Done():
				return fp, ctx.Err()
			case <-deadline:
				return fp, fmt.Errorf("%s: only %d of %d connected within 5m", name, fleet.Totals().Connected, f.N)
			case <-tick.C:
				if n%5 == 4 {
					fmt.Fprintf(opt.Out, "baseline %s: %d/%d connected (load %s)\n", name, fleet.Totals().Connected, f.N, Load1())
				}
			}
		}
		fp.ConnectDur = time.Since(start)
		a, err := SampleProc(p.PID())
		if err != nil {
			return fp, err
		}
		select {
		case <-ctx.Done():
			return fp, ctx.Err()
		case <-time.After(opt.Settle): // the measuring window
		}
		b, err := SampleProc(p.PID())
		if err != nil {
			return fp, err
		}
		if c := fleet.Totals().Connected; c < f.N {
			return fp, fmt.Errorf("%s: connections fell to %d of %d while held", name, c, f.N)
		}
		fp.HeldRSS, fp.CPU = b.RSS, CPUPercent(a, b)
		fmt.Fprintf(opt.Out, "baseline %s: %d held: RSS %.0f MB (idle %.0f MB), CPU %.1f%%, %d open files\n", name, f.N, mb(b.RSS), mb(fp.IdleRSS), fp.CPU, b.OpenFDs)
		return fp, nil
	}

	ep, err := StartProc(opt.EchoCmd, opt.HubLog)
	if err != nil {
		return res, err
	}
	if err := ep.waitReady(ctx, 30*time.Second, waitTCP(opt.EchoListen)); err != nil {
		ep.Kill()
		return res, err
	}
	if res.Echo, err = hold("bare server", ep, "wss://"+opt.EchoListen); err != nil {
		return res, err
	}
	res.LoadMiddle = Load1()
	hp, _, err := StartHub(ctx, opt.HubCmd, opt.HubData, opt.HubLog)
	if err != nil {
		return res, err
	}
	if res.Hub, err = hold("hub", hp, "wss://"+opt.HubListen); err != nil {
		return res, err
	}
	res.LoadEnd = Load1()
	return res, nil
}
