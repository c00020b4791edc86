package hub

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// statsAgent is a raw agent connection that pipelines events and reads acks
// on its own goroutine (a month of one PC's events is more acks than
// testAgent buffers).
type statsAgent struct {
	id    string
	ws    *websocket.Conn
	acked atomic.Uint64
	done  chan struct{}
}

func (th *testHub) statsAgent(t testing.TB, c creds) *statsAgent {
	t.Helper()
	ws, _, err := th.dial(&c.cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &statsAgent{id: c.id, ws: ws, done: make(chan struct{})}
	t.Cleanup(func() { ws.Close(); <-a.done })
	hello, _ := protocol.Encode(&protocol.Hello{TerminalID: c.id, NextSeq: 1, Status: status(c.id)})
	if err := ws.WriteMessage(websocket.TextMessage, hello); err != nil {
		t.Fatal(err)
	}
	welcomed := make(chan struct{})
	go func() {
		defer close(a.done)
		first := true
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			m, err := protocol.Decode(data)
			if err != nil {
				return
			}
			switch m := m.(type) {
			case *protocol.Welcome:
				if first {
					first = false
					close(welcomed)
				}
			case *protocol.Ack:
				a.acked.Store(max(a.acked.Load(), m.Seq))
			}
		}
	}()
	select {
	case <-welcomed:
	case <-time.After(10 * time.Second):
		t.Fatal("no welcome")
	}
	return a
}

func (a *statsAgent) send(t testing.TB, e *protocol.Event) {
	b, err := protocol.Encode(e)
	if err != nil {
		t.Error(err)
		return
	}
	if err := a.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Error(err)
	}
}

// simSession is one patron session the simulated month holds.
type simSession struct {
	pc     int
	start  time.Time
	used   int64 // seconds
	kind   protocol.PatronKind
	dirty  bool
	readyM int64
}

// TestMonthOfSessionsReport: a simulated month of 10,000 patron sessions on
// 20 PCs in two branches, sent as agent events over the real link into the
// real hub and store (some events sent twice, as after a lost ack), reports
// by day, branch and metric exactly the sessions the test generated; after
// retention deleted every event and all session detail, the report is the
// same.
func TestMonthOfSessionsReport(t *testing.T) {
	th := startHub(t, func(c *Config) { c.Zone = time.UTC })
	ctx := context.Background()
	const pcs, sessions = 20, 10000
	branchOf := func(pc int) string { return []string{"Main", "Westside"}[pc%2] }
	agents := make([]*statsAgent, pcs)
	for i := range pcs {
		c := th.mustEnroll(t, fmt.Sprintf("pc-%02d", i))
		if _, err := th.SetBranch(ctx, c.id, branchOf(i), "test"); err != nil {
			t.Fatal(err)
		}
		agents[i] = th.statsAgent(t, c)
	}

	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(13, 2026))
	byPC := make([][]simSession, pcs)
	type dayBranch struct {
		day    string
		branch string
	}
	wantSessions := map[dayBranch]int64{}
	var wantMinutes, wantClean, wantDirty, wantReady, wantBlocked int64
	wantKind := map[string]int64{}
	for range sessions {
		s := simSession{pc: rng.IntN(pcs), used: 60 + rng.Int64N(3*3600), readyM: 5 + rng.Int64N(80),
			start: month.Add(time.Duration(rng.Int64N(int64(30*24*time.Hour))) / time.Second * time.Second)}
		switch rng.IntN(3) {
		case 0:
			s.kind = protocol.PatronCard
		case 1:
			s.kind = protocol.PatronGuest
		}
		s.dirty = rng.IntN(50) == 0
		byPC[s.pc] = append(byPC[s.pc], s)
		wantSessions[dayBranch{s.start.Format(time.DateOnly), branchOf(s.pc)}]++
		wantMinutes += (s.used + 30) / 60
		wantKind[string(s.kind)]++
		if s.dirty {
			wantDirty++
		} else {
			wantClean++
			wantReady += s.readyM
		}
	}

	var wg sync.WaitGroup
	for pc, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seq uint64
			ev := func(kind protocol.EventKind, at time.Time, data map[string]string) *protocol.Event {
				seq++
				return &protocol.Event{Seq: seq, Time: at, Kind: kind, Severity: protocol.SeverityInfo, Data: data}
			}
			for i, s := range byPC[pc] {
				id := strconv.Itoa(i)
				start := map[string]string{protocol.DataSession: id}
				end := map[string]string{protocol.DataSession: id}
				if s.kind != "" {
					start[protocol.DataKind], end[protocol.DataKind] = string(s.kind), string(s.kind)
					end[protocol.DataUsed] = strconv.FormatInt(s.used, 10)
				}
				// Sessions without sign-in carry no "used": the hub counts
				// from the start it saw.
				at := s.start
				started := ev(protocol.EventSessionStarted, at, start)
				a.send(t, started)
				if i%97 == 0 {
					a.send(t, started) // re-sent: stored once, counted once
				}
				a.send(t, ev(protocol.EventSessionEnded, at.Add(time.Duration(s.used)*time.Second), end))
				wiped := at.Add(time.Duration(s.used)*time.Second + time.Second)
				if s.dirty {
					a.send(t, ev(protocol.EventWipeDirty, wiped, map[string]string{protocol.DataWhy: "leftovers"}))
				} else {
					a.send(t, ev(protocol.EventWipeDone, wiped, map[string]string{protocol.DataMsReady: strconv.FormatInt(s.readyM, 10)}))
				}
				if i%10 == 0 {
					a.send(t, ev(protocol.EventDownloadBlocked, at.Add(time.Minute), protocol.DownloadBlocked{Name: "setup.exe", Reason: "Windows program (PE)"}.Data()))
				}
			}
			deadline := time.Now().Add(2 * time.Minute)
			for a.acked.Load() < seq && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
			}
			if a.acked.Load() < seq {
				t.Errorf("%s: acked %d of %d", a.id, a.acked.Load(), seq)
			}
		}()
		for i := range byPC[pc] {
			if i%10 == 0 {
				wantBlocked++
			}
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// A day past the month: a session started late on the 30th ends, and is
	// wiped, on 1 December, and its minutes and wipe count there.
	args := protocol.ReportArgs{From: month, To: month.AddDate(0, 1, 1), By: protocol.PeriodDay}
	check := func(when string) {
		t.Helper()
		got := map[dayBranch]int64{}
		for _, b := range []string{"Main", "Westside"} {
			a := args
			a.Branch = b
			r, err := th.Report(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range r.Rows {
				if row.Metric == protocol.MetricSessions {
					got[dayBranch{row.Start.Format(time.DateOnly), b}] += row.N
				}
			}
		}
		if len(got) != len(wantSessions) {
			t.Errorf("%s: %d day×branch rows, want %d", when, len(got), len(wantSessions))
		}
		for k, n := range wantSessions {
			if got[k] != n {
				t.Errorf("%s: %s %s: %d sessions, want %d", when, k.day, k.branch, got[k], n)
			}
		}
		r, err := th.Report(ctx, args)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what      string
			got, want int64
		}{
			{"sessions", r.Total(protocol.MetricSessions), sessions},
			{"minutes", r.Total(protocol.MetricMinutes), wantMinutes},
			{"wipe ms", r.Total(protocol.MetricWipeReadyMS), wantReady},
			{"blocked", r.Total(protocol.MetricBlocked), wantBlocked},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s = %d, want %d", when, c.what, c.got, c.want)
			}
		}
		for _, row := range r.Totals {
			switch {
			case row.Metric == protocol.MetricSessions && row.N != wantKind[row.Label]:
				t.Errorf("%s: sessions %q = %d, want %d", when, row.Label, row.N, wantKind[row.Label])
			case row.Metric == protocol.MetricWipes && row.Label == protocol.LabelClean && row.N != wantClean,
				row.Metric == protocol.MetricWipes && row.Label == protocol.LabelDirty && row.N != wantDirty:
				t.Errorf("%s: wipes %s = %d (clean want %d, dirty %d)", when, row.Label, row.N, wantClean, wantDirty)
			case row.Metric == protocol.MetricBlocked && row.Label != protocol.BlockedProgram:
				t.Errorf("%s: blocked counted as %q", when, row.Label)
			}
		}
		var busy int64
		for _, d := range r.Busy {
			for _, n := range d {
				busy += n
			}
		}
		if busy != sessions {
			t.Errorf("%s: busy hours add up to %d", when, busy)
		}
	}
	check("with the detail")
	if n, _ := th.Store().TotalEvents(ctx); n == 0 {
		t.Fatal("no events stored")
	}
	deleted, err := th.Store().Prune(ctx, map[store.RetentionClass]time.Duration{store.KeepEvents: time.Nanosecond, store.KeepSessions: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := th.Store().TotalEvents(ctx); n != 0 {
		t.Fatalf("%d events left after retention", n)
	}
	if deleted["sessions"] != 2*sessions {
		t.Errorf("session detail deleted: %d rows, want %d", deleted["sessions"], 2*sessions)
	}
	check("after retention deleted the detail")
}

// A sign-in counted by the hub's own code (Count) is written with the next
// commit, in the terminal's branch.
func TestHubCount(t *testing.T) {
	th := startHub(t, func(c *Config) { c.Zone = time.UTC; c.StatusFlush = 20 * time.Millisecond })
	ctx := context.Background()
	c := th.mustEnroll(t, "pc-1")
	if _, err := th.SetBranch(ctx, c.id, "Main", "test"); err != nil {
		t.Fatal(err)
	}
	th.Count(protocol.MetricSignInRefused, string(protocol.RefusePIN), c.id, 1)
	th.Count(protocol.MetricGuestPasses, "", "", 2)
	args := protocol.ReportArgs{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), By: protocol.PeriodDay, Branch: "Main"}
	waitFor(t, 5*time.Second, "the counts written", func() bool {
		r, err := th.Report(ctx, args)
		return err == nil && r.Total(protocol.MetricSignInRefused) == 1
	})
	args.Branch = ""
	if r, _ := th.Report(ctx, args); r.Total(protocol.MetricGuestPasses) != 2 {
		t.Fatalf("guest passes: %+v", r.Totals)
	}
}

// A desk member reads reports and the IMLS figures through the staff API; a
// reversed or ten-year range is answered with an error that says so.
func TestReportOverStaffAPI(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.Zone = time.UTC })
	ctx := context.Background()
	sh.setup(t, "ann", adminPW)
	deskSecret := sh.addStaff(t, "bob", adminPW, protocol.RoleDesk)
	desk := sh.console(t, sh.mustLogin(t, "bob", adminPW, deskSecret), nil)
	c := sh.mustEnroll(t, "pc-1")
	at := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	if _, err := sh.Store().Commit(ctx, &store.Batch{Events: []store.Event{{Terminal: c.id, Seq: 1, Time: at, Kind: protocol.EventSessionStarted,
		Severity: "info", Counts: []store.Count{{Metric: protocol.MetricSessions, Terminal: c.id, Time: at, N: 1}}}}}); err != nil {
		t.Fatal(err)
	}
	var r protocol.Report
	desk.ok(protocol.OpReport, protocol.ReportArgs{From: at.AddDate(0, 0, -1), To: at.AddDate(0, 0, 1), By: protocol.PeriodDay}, &r)
	if r.Total(protocol.MetricSessions) != 1 || r.Busy[time.Monday][15] != 1 || r.Zone != "UTC" {
		t.Fatalf("report: %+v", r)
	}
	var x protocol.IMLS
	desk.ok(protocol.OpIMLS, protocol.IMLSArgs{Year: 2026}, &x)
	if x.Uses != 1 || x.Computers != 1 {
		t.Fatalf("imls: %+v", x)
	}
	for _, a := range []struct {
		args protocol.ReportArgs
		want string
	}{
		{protocol.ReportArgs{From: at, To: at.AddDate(0, -1, 0), By: protocol.PeriodDay}, "the range is reversed"},
		{protocol.ReportArgs{From: at.AddDate(-10, 0, 0), To: at, By: protocol.PeriodMonth}, "a report covers at most 5 years"},
	} {
		resp := desk.do(protocol.OpReport, a.args)
		if resp.OK || !strings.Contains(resp.Error, a.want) {
			t.Errorf("%+v: %+v, want an error with %q", a.args, resp, a.want)
		}
	}
}
