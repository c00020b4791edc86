package ui

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// patronFake is the fake hub with the patron session's ops.
type patronFake struct {
	*fakeHub
	pmu     sync.Mutex
	ends    time.Time
	changes []int
	batches []protocol.GuestCreateArgs
	rules   []*protocol.Rules
	ils     protocol.ILSLink
}

func (p *patronFake) grant() protocol.Grant {
	return protocol.Grant{ID: "g-1", Terminal: "t1", Kind: protocol.PatronGuest, Patron: "guest", Issued: clock.Add(-10 * time.Minute), Ends: p.ends, EndsBy: "guest"}
}

func (p *patronFake) SessionGet(context.Context, string) (protocol.SessionView, error) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	g := p.grant()
	return protocol.SessionView{Grant: &g, Branch: "main", Rules: protocol.DefaultRules()}, nil
}

func (p *patronFake) SessionTime(_ context.Context, _ string, m int) (protocol.Grant, error) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	p.changes = append(p.changes, m)
	p.ends = p.ends.Add(time.Duration(m) * time.Minute)
	return p.grant(), nil
}

func (p *patronFake) GuestCreate(_ context.Context, a protocol.GuestCreateArgs) (protocol.GuestPassesView, error) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	p.batches = append(p.batches, a)
	v := protocol.GuestPassesView{Batch: "b1", Minutes: a.Minutes, Expires: clock.Add(8 * time.Hour)}
	for range a.Count {
		v.Codes = append(v.Codes, "ABCD-EFGH")
	}
	return v, nil
}

func (p *patronFake) RulesGet(context.Context, string) (protocol.BranchRules, error) {
	return protocol.BranchRules{Rules: protocol.DefaultRules()}, nil
}

func (p *patronFake) RulesSet(_ context.Context, _ string, r *protocol.Rules) error {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	p.rules = append(p.rules, r)
	return nil
}

func (p *patronFake) ILSLink(context.Context) (protocol.ILSLink, error) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	return p.ils, nil
}

func newPatronHarness(t *testing.T, role protocol.Role) (*harness, *patronFake) {
	pf := &patronFake{fakeHub: newFakeHub(role), ends: clock.Add(30 * time.Minute), ils: protocol.ILSLink{State: protocol.ILSDown, LastError: "dial: refused"}}
	a := test.NewTempApp(t)
	w := a.NewWindow("Carrel")
	h := &harness{t: t, app: a, win: w, hub: pf.fakeHub, queue: make(chan func(), 1<<16)}
	opts := Options{HubURL: "https://hub.test:8443", Fingerprint: strings.Repeat("ab", 32), Now: func() time.Time { return clock }, Do: func(f func()) { h.queue <- f }, Tick: -1}
	h.ui = Create(a, w, pf, opts)
	w.Resize(fyne.NewSize(1200, 760))
	t.Cleanup(func() { h.ui.Close(); w.Close() })
	return h, pf
}

func patronTerm(ends time.Time) protocol.TerminalView {
	v := term("t1", "pc-01", true, protocol.SessionInUse, false)
	v.Status.Patron = &protocol.PatronView{Grant: "g-1", Kind: protocol.PatronGuest, Patron: "guest", Ends: ends}
	return v
}

func TestPatronTileAndAddTime(t *testing.T) {
	h, pf := newPatronHarness(t, protocol.RoleDesk)
	h.hub.terminals = []protocol.TerminalView{patronTerm(pf.ends)}
	h.login("ann")
	h.wait("the patron tile", func() bool { tl := h.tiles()["pc-01"]; return tl != nil && tl.time.Text == "guest 30m left" })
	h.openDetail("pc-01")
	d := h.ui.room.detail
	h.wait("the session's rules", func() bool { return strings.Contains(d.patron.rules.Text, "sessions of 60 min") })
	test.Type(d.patron.minutes, "x")
	test.Tap(d.patron.add)
	if !strings.Contains(d.patron.result.Text, "whole number") {
		t.Fatalf("bad minutes: %q", d.patron.result.Text)
	}
	d.patron.minutes.SetText("15")
	test.Tap(d.patron.add)
	// The tile redraws from the new grant, without waiting for the agent.
	h.wait("the tile's new time left", func() bool { return h.tiles()["pc-01"].time.Text == "guest 45m left" })
	d.patron.minutes.SetText("5")
	test.Tap(d.patron.remove)
	h.wait("the tile after removing", func() bool { return h.tiles()["pc-01"].time.Text == "guest 40m left" })
	pf.pmu.Lock()
	defer pf.pmu.Unlock()
	if len(pf.changes) != 2 || pf.changes[0] != 15 || pf.changes[1] != -5 {
		t.Fatalf("changes sent %v", pf.changes)
	}
}

func TestGuestPassesAndILSLight(t *testing.T) {
	h, pf := newPatronHarness(t, protocol.RoleDesk)
	h.login("ann")
	h.wait("the red ILS light", func() bool { c, _ := h.ui.ILSState(); return c == ilsRed })
	if h.ui.patrons.rules != nil {
		t.Fatal("desk staff get the rules editor")
	}
	g := h.ui.patrons.guests
	g.count.SetText("0")
	test.Tap(g.make)
	if !strings.Contains(g.result.Text, "out of range") {
		t.Fatalf("count 0: %q", g.result.Text)
	}
	g.count.SetText("3")
	g.kind.SetSelected(guestMinutes)
	g.minutes.SetText("45")
	test.Tap(g.make)
	h.wait("the codes", func() bool { return strings.Count(g.codes.Text, "ABCD-EFGH") == 3 })
	var pdf []byte
	g.saveTo = func(b []byte) error { pdf = b; return nil }
	test.Tap(g.save)
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("sheet is not a PDF: %.20q", pdf)
	}
	g.saveTo = func([]byte) error { return errors.New("disk full") }
	test.Tap(g.save)
	if !strings.Contains(g.result.Text, "disk full") {
		t.Fatalf("save error: %q", g.result.Text)
	}
	pf.pmu.Lock()
	defer pf.pmu.Unlock()
	if len(pf.batches) != 1 || pf.batches[0] != (protocol.GuestCreateArgs{Count: 3, Minutes: 45}) {
		t.Fatalf("batches %v", pf.batches)
	}
}

func TestRulesEditorRefusesBadInput(t *testing.T) {
	h, pf := newPatronHarness(t, protocol.RoleAdmin)
	h.login("root")
	r := h.ui.patrons.rules
	h.wait("the rules loaded", func() bool { return r.session.Text == "60" })
	r.open[1].SetText("09:00")
	test.Tap(r.save)
	if !strings.Contains(r.result.Text, "Not saved") {
		t.Fatalf("half hours saved: %q", r.result.Text)
	}
	for i := range 7 {
		r.open[i].SetText("09:00")
		r.close[i].SetText("20:00")
	}
	r.close[3].SetText("08:00")
	test.Tap(r.save)
	if !strings.Contains(r.result.Text, "Wednesday") {
		t.Fatalf("closing before opening: %q", r.result.Text)
	}
	r.close[3].SetText("20:00")
	r.exceptions.SetText("2026-12-25 closed\n2026-12-24 09:00-13:00")
	test.Tap(r.save)
	h.wait("saved", func() bool { return r.result.Text == "Rules saved." })
	pf.pmu.Lock()
	defer pf.pmu.Unlock()
	if len(pf.rules) != 1 || len(pf.rules[0].Hours) != 7 || len(pf.rules[0].Exceptions) != 2 {
		t.Fatalf("rules sent %+v", pf.rules)
	}
}
