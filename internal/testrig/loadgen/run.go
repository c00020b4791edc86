package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// RunOptions configure Run.
type RunOptions struct {
	Fleet          FleetOptions
	HubData        string        // the hub's data directory: hub.sock for commands, hub.db for accounting
	HubPID         int           // the hub process to sample; 0: from <HubData>/hub.json
	Duration       time.Duration // the steady window, after every agent connected
	ReportEvery    time.Duration // default 5s
	CommandEvery   time.Duration // a staff ping this often; default 1s
	ConnectTimeout time.Duration // default 5m
	DrainTimeout   time.Duration // default 2m
	Out            io.Writer
}

// Stats summarise a set of millisecond samples.
type Stats struct {
	N             int
	P50, P99, Max float64
}

func statsOf(v []float64) Stats {
	s := sortedCopy(v)
	if len(s) == 0 {
		return Stats{}
	}
	return Stats{N: len(s), P50: percentile(s, 50), P99: percentile(s, 99), Max: s[len(s)-1]}
}

func (s Stats) String() string {
	if s.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (n %d)", s.P50, s.P99, s.Max, s.N)
}

// RunResult is what Run measured.
type RunResult struct {
	N           int
	ConnectTime time.Duration // start to every agent connected
	Window      time.Duration
	HubCPUMean  float64 // percent of one core over the steady window
	HubCPUMax   float64 // the busiest report interval
	HubRSSMax   int64
	HubRSSIdle  int64 // before the agents started
	Status      Stats // status-to-store latency
	Command     Stats // staff ping round trip through the control socket
	CommandErrs int
	Account     Accounting
	LoadStart   string
	LoadEnd     string
	// Ranges are the seqs each terminal emitted (what Account checked).
	Ranges map[string][2]uint64
}

func (r RunResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "agents: %d connected in %v\n", r.N, r.ConnectTime.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "hub over %v steady: CPU mean %.1f%% of one core (busiest interval %.1f%%), RSS max %.0f MB (%.0f MB before agents; %.1f KB per agent)\n",
		r.Window.Round(time.Second), r.HubCPUMean, r.HubCPUMax, mb(r.HubRSSMax), mb(r.HubRSSIdle), float64(r.HubRSSMax-r.HubRSSIdle)/1024/float64(max(r.N, 1)))
	fmt.Fprintf(&b, "status→store: %s\n", r.Status)
	fmt.Fprintf(&b, "staff ping round trip: %s, errors %d\n", r.Command, r.CommandErrs)
	fmt.Fprintf(&b, "%s\n", r.Account)
	fmt.Fprintf(&b, "load average: %s at start, %s at end", r.LoadStart, r.LoadEnd)
	return b.String()
}

// hubSampler samples the hub process's CPU and RSS.
type hubSampler struct {
	pid int

	mu     sync.Mutex // guards the fields below
	first  ProcSample
	last   ProcSample
	prevIv ProcSample // at the start of the current report interval
	rssMax int64
	ivMax  float64
	err    error
}

func (h *hubSampler) sample() ProcSample {
	s, err := SampleProc(h.pid)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.err = err
		return h.last
	}
	if h.first.At.IsZero() {
		h.first, h.prevIv = s, s
	}
	h.last = s
	h.rssMax = max(h.rssMax, s.RSS)
	return s
}

// interval returns the CPU since the previous call and the current sample.
func (h *hubSampler) interval() (float64, ProcSample) {
	s := h.sample()
	h.mu.Lock()
	defer h.mu.Unlock()
	cpu := CPUPercent(h.prevIv, s)
	h.prevIv = s
	h.ivMax = max(h.ivMax, cpu)
	return cpu, s
}

func (h *hubSampler) reset() {
	h.mu.Lock()
	h.first, h.prevIv, h.rssMax, h.ivMax = ProcSample{}, ProcSample{}, 0, 0
	h.mu.Unlock()
	h.sample()
}

// pinger sends a staff ping about every `every` to a random terminal and keeps
// the round trips.
type pinger struct {
	ctl     *hub.Control
	targets []string

	mu   sync.Mutex // guards rtt, errs, lastErr
	rtt  []float64
	errs int
	last string
}

func (p *pinger) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		id := p.targets[rand.IntN(len(p.targets))]
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		resp, err := p.ctl.Command(cctx, protocol.CommandArgs{Terminal: id, Action: protocol.ActionPing})
		rtt := time.Since(start)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		switch {
		case err != nil:
			p.errs++
			p.last = err.Error()
		case resp.Result == nil || !resp.Result.OK:
			p.errs++
			p.last = resp.Error
			if resp.Result != nil {
				p.last = resp.Result.Error
			}
		default:
			p.rtt = append(p.rtt, float64(rtt.Microseconds())/1000)
		}
		p.mu.Unlock()
	}
}

func (p *pinger) take() ([]float64, int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, e, l := p.rtt, p.errs, p.last
	p.rtt, p.errs, p.last = nil, 0, ""
	return r, e, l
}

// commandTargets reads the terminal IDs of up to k random agents.
func commandTargets(dir string, n, k int) ([]string, error) {
	var out []string
	for _, i := range rand.Perm(n)[:min(k, n)] {
		id, err := link.LoadIdentity(AgentDir(dir, i))
		if err != nil {
			return nil, err
		}
		out = append(out, id.TerminalID)
	}
	return out, nil
}

// resolveHub fills in the hub URL and PID from <HubData>/hub.json.
func resolveHub(opt *RunOptions) error {
	if opt.Fleet.HubURL != "" && opt.HubPID != 0 {
		return nil
	}
	p, err := hub.LoadPublished(opt.HubData)
	if err != nil {
		return err
	}
	if opt.Fleet.HubURL == "" {
		opt.Fleet.HubURL = "wss://" + p.Listen
	}
	if opt.HubPID == 0 {
		opt.HubPID = p.PID
	}
	return nil
}

// Run starts the fleet against a running hub, waits for every agent to connect,
// measures for Duration (hub CPU and RSS, status-to-store latency, staff ping
// round trip), then stops the events, waits for every outbox to empty, stops the
// agents and accounts for every event in the hub database.
func Run(ctx context.Context, opt RunOptions) (RunResult, error) {
	res := RunResult{N: opt.Fleet.N, LoadStart: Load1()}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.ReportEvery, 5*time.Second)
	def(&opt.CommandEvery, time.Second)
	def(&opt.ConnectTimeout, 5*time.Minute)
	def(&opt.DrainTimeout, 2*time.Minute)
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	if err := resolveHub(&opt); err != nil {
		return res, err
	}
	if opt.Fleet.HubDB == "" {
		opt.Fleet.HubDB = filepath.Join(opt.HubData, hub.DBFile)
	}
	targets, err := commandTargets(opt.Fleet.Dir, opt.Fleet.N, 64)
	if err != nil {
		return res, err
	}
	ctl, err := hub.Dial(ctx, opt.HubData)
	if err != nil {
		return res, err
	}
	hs := &hubSampler{pid: opt.HubPID}
	res.HubRSSIdle = hs.sample().RSS
	if hs.err != nil {
		return res, hs.err
	}
	fmt.Fprintf(opt.Out, "run: %d agents → %s, status every %v, %.1f events/s, hub pid %d (RSS %.0f MB), load %s\n",
		opt.Fleet.N, opt.Fleet.HubURL, opt.Fleet.StatusInterval, opt.Fleet.EventRate, opt.HubPID, mb(res.HubRSSIdle), res.LoadStart)
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
	var allRTT []float64
	var allErrs int
	line := func(phase string, p *pinger, lat *[]float64) {
		t := fleet.Totals()
		cpu, s := hs.interval()
		l := fleet.TakeLatencies()
		if lat != nil {
			*lat = append(*lat, l...)
		}
		fmt.Fprintf(opt.Out, "[%5.0fs %s] connected %d/%d | hub CPU %5.1f%% RSS %4.0f MB fds %d | status→store %s",
			time.Since(start).Seconds(), phase, t.Connected, opt.Fleet.N, cpu, mb(s.RSS), s.OpenFDs, statsOf(l))
		if p != nil {
			rtt, errs, last := p.take()
			allRTT, allErrs = append(allRTT, rtt...), allErrs+errs
			fmt.Fprintf(opt.Out, " | ping %s", statsOf(rtt))
			if errs > 0 {
				fmt.Fprintf(opt.Out, " errors %d (%s)", errs, last)
			}
		}
		fmt.Fprintf(opt.Out, " | events %d pending %d | load %s\n", t.Emitted, t.Pending, Load1())
		for i, e := range fleet.TakeErrors() {
			if i == 3 {
				break
			}
			fmt.Fprintf(opt.Out, "    link: %s\n", e)
		}
	}
	// Connect.
	tick := time.NewTicker(opt.ReportEvery)
	defer tick.Stop()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	connectBy := time.After(opt.ConnectTimeout)
	for fleet.Totals().Connected < opt.Fleet.N {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-connectBy:
			return res, fmt.Errorf("only %d of %d agents connected within %v", fleet.Totals().Connected, opt.Fleet.N, opt.ConnectTimeout)
		case <-tick.C:
			line("connect", nil, nil)
		case <-poll.C:
			if t := fleet.Totals(); t.Exited > 0 {
				return res, errors.New("an agent group ended early")
			}
		}
	}
	res.ConnectTime = time.Since(start)
	fmt.Fprintf(opt.Out, "run: all %d agents connected in %v\n", opt.Fleet.N, res.ConnectTime.Round(100*time.Millisecond))
	// Steady window.
	fleet.TakeLatencies()
	hs.reset()
	p := &pinger{ctl: ctl, targets: targets}
	pctx, stopPing := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() { defer pwg.Done(); p.run(pctx, opt.CommandEvery) }()
	var lat []float64
	end := time.After(opt.Duration)
	tick.Reset(opt.ReportEvery)
	minConnected := opt.Fleet.N
steady:
	for {
		select {
		case <-ctx.Done():
			stopPing()
			pwg.Wait()
			return res, ctx.Err()
		case <-end:
			break steady
		case <-tick.C:
			line("steady", p, &lat)
			minConnected = min(minConnected, fleet.Totals().Connected)
		}
	}
	stopPing()
	pwg.Wait()
	line("steady", p, &lat)
	hs.mu.Lock()
	res.Window = hs.last.At.Sub(hs.first.At)
	res.HubCPUMean = CPUPercent(hs.first, hs.last)
	res.HubCPUMax, res.HubRSSMax = hs.ivMax, hs.rssMax
	hs.mu.Unlock()
	res.Status = statsOf(lat)
	res.Command, res.CommandErrs = statsOf(allRTT), allErrs
	if minConnected < opt.Fleet.N {
		fmt.Fprintf(opt.Out, "run: WARNING: connected fell to %d during the window\n", minConnected)
	}
	// Drain, stop, account.
	if err := fleet.DrainWait(ctx, opt.DrainTimeout, "run", opt.Out); err != nil {
		return res, err
	}
	ranges, err := fleet.Stop(time.Minute)
	stopped = true
	if err != nil {
		return res, err
	}
	res.Ranges = ranges
	saveRanges(opt.Fleet.Dir, "run", ranges, opt.Out)
	res.Account, err = Account(ctx, opt.Fleet.HubDB, ranges)
	res.LoadEnd = Load1()
	return res, err
}

// saveRanges keeps what each terminal emitted in a run next to the agents, for
// a look at the hub database afterwards.
func saveRanges(dir, what string, ranges map[string][2]uint64, out io.Writer) {
	b, err := json.Marshal(ranges)
	if err != nil {
		return
	}
	path := filepath.Join(dir, fmt.Sprintf("emitted-%s-%s.json", what, time.Now().UTC().Format("20060102T150405")))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		fmt.Fprintf(out, "%s: keeping the emitted ranges: %v\n", what, err)
		return
	}
	fmt.Fprintf(out, "%s: emitted seqs per terminal kept in %s\n", what, path)
}
