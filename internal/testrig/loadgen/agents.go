package loadgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // read-only view of the hub's database

	"github.com/carrel-kiosk/carrel/agent/link"
	"github.com/carrel-kiosk/carrel/agent/outbox"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// EventKind is the kind of every event the simulated agents emit. Its data holds
// the event's own sequence number (under DataSeq), so a stored event can be
// matched to the one emitted.
const EventKind = "loadgen.tick"

// DataSeq is the key of an EventKind event's own sequence number.
const DataSeq = "n"

// GroupSpec is one group of simulated agents (one child process, or the whole
// fleet in a test).
type GroupSpec struct {
	Dir            string        `json:"dir"`
	From           int           `json:"from"` // agents From..To-1
	To             int           `json:"to"`
	HubURL         string        `json:"hub_url"`
	StatusInterval time.Duration `json:"status_interval"`
	EventRate      float64       `json:"event_rate"` // events a second from the whole group
	Ramp           time.Duration `json:"ramp"`       // first connections spread over this
	Probes         int           `json:"probes"`     // agents that time status-to-store
	HubDB          string        `json:"hub_db"`     // hub.db, read-only, for the probes
	ReportEvery    time.Duration `json:"report_every"`
}

// Report is what a group tells the controller, every ReportEvery and once at the end.
type Report struct {
	Agents    int `json:"agents"`
	Started   int `json:"started"`
	Connected int `json:"connected"`
	SinceMark int `json:"since_mark"` // agents welcomed by the hub since the last Mark
	// LastWelcome is the latest Welcome of any agent (unix nanos).
	LastWelcome int64 `json:"last_welcome"`
	// LinksAt is when the group began starting its links (unix nanos).
	LinksAt  int64  `json:"links_at,omitempty"`
	Emitted  uint64 `json:"emitted"`
	EmitErrs uint64 `json:"emit_errs"`
	Pending  int    `json:"pending"` // events in outboxes not yet acknowledged
	Dropped  uint64 `json:"dropped"` // outbox overflow (should stay 0)
	Draining bool   `json:"draining"`
	// StatusLat are status-to-store latencies (ms) measured since the last report.
	StatusLat []float64 `json:"status_lat,omitempty"`
	// Errs counts link failures by message since the last report.
	Errs map[string]int `json:"errs,omitempty"`
	// Ranges are, in the final report, the seqs each terminal emitted in this run.
	Ranges map[string][2]uint64 `json:"ranges,omitempty"`
	Final  bool                 `json:"final,omitempty"`
	Err    string               `json:"err,omitempty"`
}

// Group control messages (one per line on a child's stdin).
const (
	CtlDrain = "drain" // stop emitting; Pending then falls to 0
	CtlStop  = "stop"  // disconnect and send the final report
	CtlMark  = "mark"  // "mark UNIXNANO": count welcomes after that time
)

// simStatus is the agents' status source: a fixed status plus a probe value in
// PolicyVersion. When Collect first hands out a new probe value it records when.
type simStatus struct {
	base protocol.Status

	mu        sync.Mutex // guards the fields below
	probe     string
	collected chan time.Time // buffered 1; receives the time the probe went out
}

func (s *simStatus) Collect(context.Context) protocol.Status {
	st := s.base
	s.mu.Lock()
	st.PolicyVersion = s.probe
	if s.collected != nil {
		s.collected <- time.Now()
		s.collected = nil
	}
	s.mu.Unlock()
	return st
}

func (s *simStatus) setProbe(v string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	s.mu.Lock()
	s.probe, s.collected = v, ch
	s.mu.Unlock()
	return ch
}

type simAgent struct {
	idx    int
	id     string
	dir    string
	ob     *outbox.Outbox
	cl     *link.Client
	status *simStatus

	connected atomic.Bool
	welcomed  atomic.Int64 // unix nanos of the last Welcome

	lo, hi uint64 // seqs emitted in this run; the emitter goroutine only
}

// RunGroup runs the agents of spec until ctx is done or CtlStop arrives on ctl,
// calling report every ReportEvery and once at the end (Final, with Ranges).
func RunGroup(ctx context.Context, spec GroupSpec, ctl <-chan string, report func(Report)) error {
	if spec.ReportEvery <= 0 {
		spec.ReportEvery = time.Second
	}
	n := spec.To - spec.From
	if n < 1 {
		return errors.New("run group: no agents")
	}
	g := &group{spec: spec, errs: map[string]int{}}
	errLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	boot := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	// Loading identities and opening outboxes is disk-bound: do it in parallel.
	g.agents = make([]*simAgent, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= n {
					return
				}
				g.agents[k], errs[k] = g.newAgent(spec.From+k, boot, errLog)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		g.close()
		return err
	}
	return g.run(ctx, ctl, report)
}

type group struct {
	spec   GroupSpec
	agents []*simAgent

	mu   sync.Mutex // guards errs, lat
	errs map[string]int
	lat  []float64

	emitted, emitErrs atomic.Uint64
	started           atomic.Int64
	linksAt           atomic.Int64 // unix nanos when the links began to start
	mark              atomic.Int64
	draining          atomic.Bool
}

func (g *group) close() {
	for _, a := range g.agents {
		if a != nil {
			a.ob.Close()
		}
	}
}

// newAgent loads agent i's identity and opens its outbox and link client.
func (g *group) newAgent(i int, boot time.Time, errLog *slog.Logger) (*simAgent, error) {
	spec := g.spec
	a := &simAgent{idx: i, dir: AgentDir(spec.Dir, i)}
	id, err := link.LoadIdentity(a.dir)
	if err != nil {
		return nil, fmt.Errorf("agent %d: %w", i, err)
	}
	a.id = id.TerminalID
	a.ob, err = outbox.Open(a.dir, outbox.Options{MaxEvents: 100000, MaxBytes: 8 << 20})
	if err != nil {
		return nil, fmt.Errorf("agent %d: %w", i, err)
	}
	a.status = &simStatus{base: protocol.Status{
		Hostname: fmt.Sprintf("lg-%05d", i), OS: "linux", OSVersion: "loadgen", Arch: "amd64",
		AgentVersion: "loadgen", BootTime: boot, AgentStarted: time.Now().UTC().Truncate(time.Second),
		Session: protocol.SessionFree, MemTotal: 8 << 30, DiskTotal: 256 << 30,
	}, probe: "lg"}
	a.cl, err = link.New(link.Options{
		HubURL: spec.HubURL, StateDir: a.dir, Outbox: a.ob, Status: a.status, Log: errLog,
		Changed:        func(prev, cur protocol.Status) bool { return prev.PolicyVersion != cur.PolicyVersion },
		StatusInterval: spec.StatusInterval, StatusCheck: spec.StatusInterval,
		OnWelcome: func(protocol.Welcome) {
			a.welcomed.Store(time.Now().UnixNano())
			a.connected.Store(true)
		},
		OnRetry: func(_ time.Duration, _ bool, err error) {
			a.connected.Store(false)
			g.noteErr(err)
		},
	})
	if err != nil {
		a.ob.Close()
		return nil, fmt.Errorf("agent %d: %w", i, err)
	}
	return a, nil
}

// noteErr counts a link failure by its message without addresses and ports.
func (g *group) noteErr(err error) {
	msg := err.Error()
	for _, cut := range []string{"127.0.0.1:"} {
		if i := strings.Index(msg, cut); i >= 0 {
			j := i + len(cut)
			for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
				j++
			}
			msg = msg[:i] + "127.0.0.1:*" + msg[j:]
		}
	}
	if i := strings.Index(msg, "->"); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 160 {
		msg = msg[:160]
	}
	g.mu.Lock()
	g.errs[msg]++
	g.mu.Unlock()
}

func (g *group) run(ctx context.Context, ctl <-chan string, report func(Report)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	// Start the links, spread over Ramp.
	wg.Add(1)
	go func() {
		defer wg.Done()
		step := g.spec.Ramp / time.Duration(len(g.agents))
		g.linksAt.Store(time.Now().UnixNano())
		t := time.NewTicker(max(step, time.Microsecond))
		defer t.Stop()
		for _, a := range g.agents {
			if step > 0 {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.cl.Run(ctx)
			}()
			g.started.Add(1)
		}
	}()
	emitCtx, stopEmit := context.WithCancel(ctx)
	defer stopEmit()
	emitDone := make(chan struct{})
	if g.spec.EventRate > 0 {
		go func() { defer close(emitDone); g.emit(emitCtx) }()
	} else {
		close(emitDone)
	}
	if g.spec.Probes > 0 && g.spec.HubDB != "" {
		db, err := openReadOnly(g.spec.HubDB)
		if err != nil {
			return err
		}
		defer db.Close()
		for k := range min(g.spec.Probes, len(g.agents)) {
			a := g.agents[k*len(g.agents)/min(g.spec.Probes, len(g.agents))]
			wg.Add(1)
			go func() { defer wg.Done(); g.probe(emitCtx, db, a) }()
		}
	}
	tick := time.NewTicker(g.spec.ReportEvery)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case line, ok := <-ctl:
			if !ok {
				break loop
			}
			switch f := strings.Fields(line); {
			case len(f) == 0:
			case f[0] == CtlDrain:
				stopEmit()
				<-emitDone // no Emit after this, so Pending only falls
				g.draining.Store(true)
			case f[0] == CtlStop:
				break loop
			case f[0] == CtlMark && len(f) == 2:
				v, _ := strconv.ParseInt(f[1], 10, 64)
				g.mark.Store(v)
			}
		case <-tick.C:
			report(g.snapshot(false))
		}
	}
	stopEmit()
	cancel()
	<-emitDone
	wg.Wait()
	final := g.snapshot(true)
	g.close()
	report(final)
	return nil
}

func (g *group) snapshot(final bool) Report {
	r := Report{Agents: len(g.agents), Started: int(g.started.Load()), LinksAt: g.linksAt.Load(), Emitted: g.emitted.Load(),
		EmitErrs: g.emitErrs.Load(), Draining: g.draining.Load(), Final: final}
	mark := g.mark.Load()
	for _, a := range g.agents {
		if a.connected.Load() {
			r.Connected++
		}
		w := a.welcomed.Load()
		if mark != 0 && w > mark {
			r.SinceMark++
		}
		r.LastWelcome = max(r.LastWelcome, w)
		r.Pending += a.ob.Len()
		r.Dropped += a.ob.Dropped()
	}
	g.mu.Lock()
	r.StatusLat, g.lat = g.lat, nil
	if len(g.errs) > 0 {
		r.Errs, g.errs = g.errs, map[string]int{}
	}
	g.mu.Unlock()
	if final {
		r.Ranges = map[string][2]uint64{}
		for _, a := range g.agents {
			if a.lo != 0 {
				r.Ranges[a.id] = [2]uint64{a.lo, a.hi}
			}
		}
	}
	return r
}

// emit appends events at EventRate, each to a random agent's outbox. It is the
// only emitter, so each agent's seqs in this run are contiguous.
func (g *group) emit(ctx context.Context) {
	every := time.Duration(float64(time.Second) / g.spec.EventRate)
	t := time.NewTicker(max(every, 50*time.Microsecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a := g.agents[rand.IntN(len(g.agents))]
		seq := a.ob.NextSeq()
		if err := a.ob.Emit(EventKind, protocol.SeverityInfo, map[string]string{DataSeq: strconv.FormatUint(seq, 10)}); err != nil {
			g.emitErrs.Add(1)
			continue
		}
		if a.lo == 0 {
			a.lo = seq
		}
		a.hi = seq
		g.emitted.Add(1)
	}
}

// probe times status delivery for one agent, over and over: a new probe value is
// set, the time the link collects (and at once sends) it is noted, and the hub's
// terminal row is polled until the value is there.
func (g *group) probe(ctx context.Context, db *sql.DB, a *simAgent) {
	for k := 1; ; k++ {
		v := fmt.Sprintf("probe-%d-%d", a.idx, k)
		collected := a.status.setProbe(v)
		var sent time.Time
		select {
		case <-ctx.Done():
			return
		case sent = <-collected:
		}
		want := `"policy_version":"` + v + `"`
		// Poll every 5 ms for the first 200 ms (the resolution that matters), then
		// every 50 ms, so a stuck hub is not also hammered with reads.
		poll := time.NewTimer(5 * time.Millisecond)
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case <-ctx.Done():
				poll.Stop()
				return
			case <-deadline:
				g.noteErr(errors.New("probe: status not in the hub's store within 30s"))
				break wait
			case <-poll.C:
			}
			if time.Since(sent) < 200*time.Millisecond {
				poll.Reset(5 * time.Millisecond)
			} else {
				poll.Reset(50 * time.Millisecond)
			}
			var st sql.NullString
			if err := db.QueryRowContext(ctx, `SELECT last_status FROM terminals WHERE id = ?`, a.id).Scan(&st); err != nil {
				if ctx.Err() == nil {
					g.noteErr(fmt.Errorf("probe: %w", err))
				}
				continue
			}
			if strings.Contains(st.String, want) {
				ms := float64(time.Since(sent).Microseconds()) / 1000
				g.mu.Lock()
				g.lat = append(g.lat, ms)
				g.mu.Unlock()
				break wait
			}
		}
		poll.Stop()
	}
}

// openReadOnly opens the hub's database read-only (the hub keeps writing it).
func openReadOnly(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open hub database: %w", err)
	}
	db.SetMaxOpenConns(2)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open hub database: %w", err)
	}
	return db, nil
}

// percentile of sorted values (nearest rank); 0 for none.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedCopy(v []float64) []float64 {
	out := append([]float64(nil), v...)
	sort.Float64s(out)
	return out
}
