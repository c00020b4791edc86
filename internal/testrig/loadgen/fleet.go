package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"time"
)

// FleetOptions configure a fleet of simulated agents split into groups.
type FleetOptions struct {
	Dir            string
	N              int
	PerGroup       int // agents per child process; default 3500 (two descriptors each)
	HubURL         string
	StatusInterval time.Duration
	EventRate      float64 // events a second from the whole fleet
	Ramp           time.Duration
	Probes         int    // status-to-store probes, in the first group
	HubDB          string // for the probes
	// Exe is the carrel-loadgen binary to run groups in ("agents" subcommand);
	// empty runs every group in this process (tests, small fleets).
	Exe string
}

// Fleet is a running set of agent groups.
type Fleet struct {
	groups []*member

	mu     sync.Mutex // guards the fields below
	lat    []float64
	errs   map[string]int
	ranges map[string][2]uint64
}

type member struct {
	send   func(string)
	kill   func() // nil for in-process groups
	last   Report
	final  chan struct{} // closed when the final report (or the end) came
	exited chan error
	closed bool // final seen; guarded by Fleet.mu
}

// StartFleet starts the groups. Stop must be called.
func StartFleet(ctx context.Context, opt FleetOptions) (*Fleet, error) {
	if opt.PerGroup <= 0 {
		opt.PerGroup = 3500
	}
	if opt.StatusInterval <= 0 {
		opt.StatusInterval = 5 * time.Second
	}
	f := &Fleet{errs: map[string]int{}, ranges: map[string][2]uint64{}}
	ngroups := (opt.N + opt.PerGroup - 1) / opt.PerGroup
	for gi := range ngroups {
		from, to := gi*opt.N/ngroups, (gi+1)*opt.N/ngroups
		spec := GroupSpec{Dir: opt.Dir, From: from, To: to, HubURL: opt.HubURL, StatusInterval: opt.StatusInterval,
			EventRate: opt.EventRate * float64(to-from) / float64(opt.N), Ramp: opt.Ramp, HubDB: opt.HubDB}
		if gi == 0 {
			spec.Probes = opt.Probes
		}
		m := &member{final: make(chan struct{}), exited: make(chan error, 1)}
		f.groups = append(f.groups, m)
		var err error
		if opt.Exe == "" {
			err = f.startInProcess(ctx, m, spec)
		} else {
			err = f.startChild(m, opt.Exe, spec)
		}
		if err != nil {
			f.Stop(10 * time.Second)
			return nil, err
		}
	}
	return f, nil
}

func (f *Fleet) onReport(m *member, r Report) {
	if r.Err != "" {
		fmt.Fprintf(os.Stderr, "loadgen: agent group failed: %s\n", r.Err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lat = append(f.lat, r.StatusLat...)
	for k, v := range r.Errs {
		f.errs[k] += v
	}
	r.StatusLat, r.Errs = nil, nil
	if r.Final {
		for k, v := range r.Ranges {
			f.ranges[k] = v
		}
		r.Ranges = nil
		m.finish()
	}
	m.last = r
}

func (f *Fleet) startInProcess(ctx context.Context, m *member, spec GroupSpec) error {
	ctl := make(chan string, 16)
	var once sync.Once
	m.send = func(s string) {
		if s == CtlStop {
			once.Do(func() { close(ctl) })
			return
		}
		select {
		case ctl <- s:
		default:
		}
	}
	go func() {
		f.ended(m, RunGroup(ctx, spec, ctl, func(r Report) { f.onReport(m, r) }))
	}()
	return nil
}

// ended records that m's group finished with err: its last report is in.
func (f *Fleet) ended(m *member, err error) {
	f.mu.Lock()
	m.finish()
	f.mu.Unlock()
	m.exited <- err
}

// finish closes m.final once; Fleet.mu is held.
func (m *member) finish() {
	if !m.closed {
		m.closed = true
		close(m.final)
	}
}

func (f *Fleet) startChild(m *member, exe string, spec GroupSpec) error {
	js, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "agents", "--spec", string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start agent group: %w", err)
	}
	m.kill = func() { cmd.Process.Kill() }
	var wmu sync.Mutex
	m.send = func(s string) {
		wmu.Lock()
		defer wmu.Unlock()
		if s == CtlStop {
			io.WriteString(stdin, s+"\n")
			stdin.Close()
			return
		}
		io.WriteString(stdin, s+"\n")
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var r Report
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				fmt.Fprintf(os.Stderr, "loadgen: bad report from agent group %d: %v\n", cmd.Process.Pid, err)
				continue
			}
			f.onReport(m, r)
		}
		f.ended(m, cmd.Wait())
	}()
	return nil
}

// Totals sums the groups' latest reports.
type Totals struct {
	Agents, Started, Connected, SinceMark int
	Emitted, EmitErrs, Dropped            uint64
	Pending                               int
	Exited                                int // groups that ended
	LastWelcome                           time.Time
	FirstLinks                            time.Time // the earliest group's start of its links
}

// Totals sums the groups' latest reports.
func (f *Fleet) Totals() Totals {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t Totals
	for _, m := range f.groups {
		r := m.last
		t.Agents += r.Agents
		t.Started += r.Started
		t.Connected += r.Connected
		t.SinceMark += r.SinceMark
		if w := time.Unix(0, r.LastWelcome); r.LastWelcome != 0 && w.After(t.LastWelcome) {
			t.LastWelcome = w
		}
		if l := time.Unix(0, r.LinksAt); r.LinksAt != 0 && (t.FirstLinks.IsZero() || l.Before(t.FirstLinks)) {
			t.FirstLinks = l
		}
		t.Emitted += r.Emitted
		t.EmitErrs += r.EmitErrs
		t.Dropped += r.Dropped
		t.Pending += r.Pending
		if m.closed {
			t.Exited++
		}
	}
	return t
}

// TakeLatencies returns the status-to-store latencies (ms) reported since the last call.
func (f *Fleet) TakeLatencies() []float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.lat
	f.lat = nil
	return l
}

// TakeErrors returns the link failures counted since the last call, most frequent first.
func (f *Fleet) TakeErrors() []string {
	f.mu.Lock()
	errs := f.errs
	f.errs = map[string]int{}
	f.mu.Unlock()
	var out []string
	for k, v := range errs {
		out = append(out, fmt.Sprintf("%6d× %s", v, k))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// Mark makes SinceMark count agents welcomed after t.
func (f *Fleet) Mark(t time.Time) {
	for _, m := range f.groups {
		m.send(CtlMark + " " + strconv.FormatInt(t.UnixNano(), 10))
	}
}

// Drain stops the events; Pending then falls to zero as the hub acknowledges.
func (f *Fleet) Drain() {
	for _, m := range f.groups {
		m.send(CtlDrain)
	}
}

// DrainWait drains and waits until every outbox is acknowledged. After timeout
// it says on out (as what) how many events are still unacknowledged and
// returns nil; it returns ctx's error if ctx ends first.
func (f *Fleet) DrainWait(ctx context.Context, timeout time.Duration, what string, out io.Writer) error {
	f.Drain()
	by := time.NewTimer(timeout)
	defer by.Stop()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for {
		t := f.Totals()
		// A report taken before the drain began may still show 0 pending with
		// emitting on; wait for every group to say it is draining.
		if t.Pending == 0 && f.allDraining() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-by.C:
			fmt.Fprintf(out, "%s: %d events still unacknowledged after %v\n", what, t.Pending, timeout)
			return nil
		case <-poll.C:
		}
	}
}

// Stop disconnects every agent and returns the seqs each terminal emitted in this
// run. Groups that do not end within timeout are killed (in-process ones are only
// abandoned) and reported as an error.
func (f *Fleet) Stop(timeout time.Duration) (map[string][2]uint64, error) {
	for _, m := range f.groups {
		m.send(CtlStop)
	}
	deadline := time.After(timeout)
	var errs []error
	for i, m := range f.groups {
		select {
		case <-m.final:
		case <-deadline:
			errs = append(errs, fmt.Errorf("agent group %d did not stop within %v", i, timeout))
			if m.kill != nil {
				m.kill()
			}
			continue
		}
		select {
		case err := <-m.exited:
			if err != nil {
				errs = append(errs, fmt.Errorf("agent group %d: %w", i, err))
			}
		case <-deadline:
			errs = append(errs, fmt.Errorf("agent group %d did not exit within %v", i, timeout))
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ranges, errors.Join(errs...)
}

// allDraining reports whether every group has stopped emitting.
func (f *Fleet) allDraining() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.groups {
		if !m.last.Draining {
			return false
		}
	}
	return true
}
