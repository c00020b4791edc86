package loadgen

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
)

// StormOptions configure Storm.
type StormOptions struct {
	Fleet   FleetOptions
	HubCmd  []string // starts the hub on HubData (carrel-hub serve --data D --listen A)
	HubData string
	HubLog  io.Writer
	Settle  time.Duration // events flowing before the kill; default 15s
	After   time.Duration // events flowing after everyone is back; default 10s
	Target  time.Duration // all back within this is the target; default TargetStorm
	// EchoCmd, if set, starts the bare server (EchoServer) on EchoListen for the
	// same-session baseline: before the storm, the whole fleet connects to it at
	// once (no ramp), and the time until the last Welcome is the figure the
	// storm is a ratio of.
	EchoCmd        []string
	EchoListen     string
	ConnectTimeout time.Duration // first connection of the whole fleet; default 5m
	BackTimeout    time.Duration // give up waiting for reconnections; default 5m
	Out            io.Writer
}

// StormResult is what Storm measured, times from the SIGKILL.
type StormResult struct {
	N           int
	HubReady    time.Duration // the restarted hub answers on its control socket
	AgentsBack  time.Duration // every agent got a Welcome from the new hub (the last one's Welcome time)
	HubOnline   time.Duration // the new hub counts every agent online (polled each second)
	Back        bool
	PeakCPU     float64 // the restarted hub's busiest second during the storm
	PeakRSS     int64
	Account     Accounting
	Errors      []string // link failures during the storm, most frequent first
	LoadStart   string
	LoadEnd     string
	Target      time.Duration
	ConnectTime time.Duration
	// Handshakes is the baseline: N fresh TLS connections (handshake, websocket,
	// Hello/Welcome) to the bare server at once, from the first link started to
	// the last Welcome; zero when not measured.
	Handshakes time.Duration
}

// Ratio is the storm's time (all agents back) over the baseline's; 0 without a
// baseline.
func (r StormResult) Ratio() float64 {
	if r.Handshakes <= 0 {
		return 0
	}
	return float64(r.AgentsBack) / float64(r.Handshakes)
}

func (r StormResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storm: %d agents; hub SIGKILLed and restarted\n", r.N)
	fmt.Fprintf(&b, "  restarted hub serving after %v\n", r.HubReady.Round(10*time.Millisecond))
	if r.Back {
		fmt.Fprintf(&b, "  all %d agents welcomed again %v after the kill; hub counted all online after %v\n",
			r.N, r.AgentsBack.Round(10*time.Millisecond), r.HubOnline.Round(10*time.Millisecond))
	} else {
		fmt.Fprintf(&b, "  NOT all agents came back\n")
	}
	fmt.Fprintf(&b, "  restarted hub during the storm: busiest second %.0f%% CPU, RSS max %.0f MB\n", r.PeakCPU, mb(r.PeakRSS))
	for i, e := range r.Errors {
		if i == 5 {
			break
		}
		fmt.Fprintf(&b, "  link: %s\n", e)
	}
	fmt.Fprintf(&b, "  %s\n", r.Account)
	if r.Handshakes > 0 {
		fmt.Fprintf(&b, "  baseline, same session: %d fresh TLS connections to the bare server at once, all welcomed in %v; storm / baseline %.2f×\n",
			r.N, r.Handshakes.Round(10*time.Millisecond), r.Ratio())
	}
	fmt.Fprintf(&b, "  load average: %s at start, %s at end\n", r.LoadStart, r.LoadEnd)
	b.WriteString("  " + Verdicts(r.Verdicts()...))
	return b.String()
}

// Storm starts the hub, connects the fleet, lets events flow, SIGKILLs the hub
// and restarts it at once, and measures until every agent is back; then it lets
// events flow again, drains every outbox, stops and accounts for every event
// emitted (zero lost, zero duplicated).
func Storm(ctx context.Context, opt StormOptions) (StormResult, error) {
	res := StormResult{N: opt.Fleet.N, LoadStart: Load1()}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.Settle, 15*time.Second)
	def(&opt.After, 10*time.Second)
	def(&opt.Target, TargetStorm)
	def(&opt.ConnectTimeout, 5*time.Minute)
	def(&opt.BackTimeout, 5*time.Minute)
	res.Target = opt.Target
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	if len(opt.EchoCmd) > 0 {
		var err error
		if res.Handshakes, err = handshakes(ctx, opt); err != nil {
			return res, fmt.Errorf("baseline: %w", err)
		}
		fmt.Fprintf(opt.Out, "storm: baseline: %d fresh connections to the bare server, all welcomed in %v\n", opt.Fleet.N, res.Handshakes.Round(10*time.Millisecond))
	}
	opt.Fleet.HubDB = filepath.Join(opt.HubData, hub.DBFile)
	hp, ctl, err := StartHub(ctx, opt.HubCmd, opt.HubData, opt.HubLog)
	if err != nil {
		return res, err
	}
	defer func() { hp.Stop(15 * time.Second) }()
	pub, err := hub.LoadPublished(opt.HubData)
	if err != nil {
		return res, err
	}
	opt.Fleet.HubURL = "wss://" + pub.Listen
	fmt.Fprintf(opt.Out, "storm: hub pid %d on %s; starting %d agents (load %s)\n", hp.PID(), opt.Fleet.HubURL, opt.Fleet.N, res.LoadStart)
	start := time.Now()
	fleet, err := StartFleet(ctx, opt.Fleet)
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			fleet.Stop(30 * time.Second)
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	status := func(phase string, since time.Time, online int) {
		t := fleet.Totals()
		fmt.Fprintf(opt.Out, "[%6.1fs %s] connected %d, welcomed since kill %d, hub online %d | events %d pending %d | load %s\n",
			time.Since(since).Seconds(), phase, t.Connected, t.SinceMark, online, t.Emitted, t.Pending, Load1())
	}
	connectBy := time.After(opt.ConnectTimeout)
	for n := 0; fleet.Totals().Connected < opt.Fleet.N; n++ {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-connectBy:
			return res, fmt.Errorf("only %d of %d agents connected within %v", fleet.Totals().Connected, opt.Fleet.N, opt.ConnectTimeout)
		case <-tick.C:
			if n%5 == 4 {
				status("connect", start, -1)
			}
		}
	}
	res.ConnectTime = time.Since(start)
	fmt.Fprintf(opt.Out, "storm: all %d connected in %v; events flowing for %v before the kill\n", opt.Fleet.N, res.ConnectTime.Round(100*time.Millisecond), opt.Settle)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(opt.Settle): // let events flow; a measuring pause, not a synchronisation
	}
	fleet.TakeErrors()

	// The storm.
	killAt := time.Now()
	fleet.Mark(killAt)
	hp.Kill()
	fmt.Fprintf(opt.Out, "storm: hub pid %d SIGKILLed; restarting\n", hp.PID())
	hp, ctl, err = StartHub(ctx, opt.HubCmd, opt.HubData, opt.HubLog)
	if err != nil {
		return res, fmt.Errorf("restart hub: %w", err)
	}
	res.HubReady = time.Since(killAt)
	hs := &hubSampler{pid: hp.PID()}
	backBy := time.After(opt.BackTimeout)
	for res.AgentsBack == 0 || res.HubOnline == 0 {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-backBy:
			res.Errors = fleet.TakeErrors()
			return res, fmt.Errorf("not every agent back within %v of the kill", opt.BackTimeout)
		case <-tick.C:
		}
		cpu, s := hs.interval()
		res.PeakCPU, res.PeakRSS = max(res.PeakCPU, cpu), max(res.PeakRSS, s.RSS)
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		h, herr := ctl.Health(hctx)
		cancel()
		online := -1
		if herr == nil {
			online = h.Online
		}
		t := fleet.Totals()
		if res.AgentsBack == 0 && t.SinceMark == opt.Fleet.N {
			// The last agent's own Welcome time, not when its report arrived.
			res.AgentsBack = t.LastWelcome.Sub(killAt)
		}
		if res.HubOnline == 0 && online == opt.Fleet.N {
			res.HubOnline = time.Since(killAt)
		}
		status("storm", killAt, online)
	}
	res.Back = true
	res.Errors = fleet.TakeErrors()
	fmt.Fprintf(opt.Out, "storm: everyone back; events flowing for %v more\n", opt.After)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(opt.After):
	}
	if err := fleet.DrainWait(ctx, 2*time.Minute, "storm", opt.Out); err != nil {
		return res, err
	}
	ranges, err := fleet.Stop(time.Minute)
	stopped = true
	if err != nil {
		return res, err
	}
	if err := hp.Stop(15 * time.Second); err != nil {
		fmt.Fprintf(opt.Out, "storm: %v\n", err)
	}
	saveRanges(opt.Fleet.Dir, "storm", ranges, opt.Out)
	res.Account, err = Account(ctx, opt.Fleet.HubDB, ranges)
	res.LoadEnd = Load1()
	return res, err
}

// handshakes is Storm's baseline: the bare server started, the whole fleet
// (no events) connected to it at once, the time from the first group starting
// its links to the last Welcome, the fleet and server stopped.
func handshakes(ctx context.Context, opt StormOptions) (time.Duration, error) {
	ep, err := StartProc(opt.EchoCmd, opt.HubLog)
	if err != nil {
		return 0, err
	}
	defer ep.Stop(15 * time.Second)
	if err := ep.waitReady(ctx, 30*time.Second, waitTCP(opt.EchoListen)); err != nil {
		return 0, err
	}
	f := opt.Fleet
	f.HubURL, f.Ramp, f.EventRate, f.Probes, f.HubDB = "wss://"+opt.EchoListen, 0, 0, 0, ""
	fleet, err := StartFleet(ctx, f)
	if err != nil {
		return 0, err
	}
	defer fleet.Stop(time.Minute)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(opt.ConnectTimeout)
	for {
		t := fleet.Totals()
		if t.Connected == f.N && !t.FirstLinks.IsZero() {
			return t.LastWelcome.Sub(t.FirstLinks), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline:
			return 0, fmt.Errorf("only %d of %d connected to the bare server within %v", t.Connected, f.N, opt.ConnectTimeout)
		case <-tick.C:
		}
	}
}
