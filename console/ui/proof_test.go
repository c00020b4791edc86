package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The room's "not proven" filter shows the PCs whose last self-test failed
// or that have none; the detail says "proven <time>", or which check failed
// and why (the reason from the selftest.done event); the event is an alert
// sentence in the feed; an admin can start a self-test from the detail.
func TestProofInRoomAndDetail(t *testing.T) {
	h := newHarness(t, protocol.RoleAdmin)
	good := term("t1", "pc-01", true, protocol.SessionFree, false)
	good.Status.Proof = &protocol.SelfTestSummary{Time: clock.Add(-5 * time.Hour), Passed: 7, NotTestable: []string{"lock-screen"}}
	bad := term("t2", "pc-02", true, protocol.SessionFree, false)
	bad.Status.Proof = &protocol.SelfTestSummary{Time: clock.Add(-time.Hour), Passed: 6, Failed: []string{"exec-guard"}}
	none := term("t3", "pc-03", true, protocol.SessionFree, false)
	h.hub.terminals = []protocol.TerminalView{good, bad, none}
	done := protocol.SelfTestDone{Results: []protocol.SelfTestResult{
		{Check: "exec-guard", Outcome: protocol.SelfTestFail, Reason: "the canary program ran from /tmp: nothing refused it"},
		{Check: "state-dir", Outcome: protocol.SelfTestPass, Reason: "private"},
	}}
	h.hub.events = []protocol.EventView{{ID: 1, Terminal: "t2", Kind: protocol.EventSelfTestDone, Severity: done.Severity(), Time: clock.Add(-time.Hour), Data: done.Data()}}
	h.login("root")
	h.wait("tiles", func() bool { return len(h.tiles()) == 3 })

	if !slices.Contains(h.ui.room.filter.Options, filterNotProven) {
		t.Fatalf("filter choices %q lack %q", h.ui.room.filter.Options, filterNotProven)
	}
	h.ui.room.filter.SetSelected(filterNotProven)
	h.wait("only the unproven", func() bool { return len(h.tiles()) == 2 })
	if tl := h.tiles(); tl["pc-02"] == nil || tl["pc-03"] == nil {
		t.Fatalf("not proven shows %v", tl)
	}
	// pc-01 fails its next self-test: it joins the filtered room.
	broken := good
	st := *good.Status
	st.Proof = &protocol.SelfTestSummary{Time: clock, Passed: 6, Failed: []string{"browser-policies"}}
	broken.Status = &st
	h.hub.send(protocol.StaffPush{Terminal: &broken})
	h.wait("pc-01 not proven now", func() bool { return len(h.tiles()) == 3 })
	h.ui.room.filter.SetSelected(filterAll)

	d := h.ui.room.detail
	h.openDetail("pc-02")
	proof := d.fields["Proof"].Text
	for _, w := range []string{"NOT proven", "exec-guard", "nothing refused it", "1h"} {
		if !strings.Contains(proof, w) {
			t.Errorf("pc-02 proof %q lacks %q", proof, w)
		}
	}
	h.openDetail("pc-03")
	if p := d.fields["Proof"].Text; !strings.HasPrefix(p, "not proven: no self-test") {
		t.Errorf("pc-03 proof %q", p)
	}
	if got := proofText(good, nil, clock); !strings.HasPrefix(got, "proven ") || !strings.Contains(got, "7 checks passed") || !strings.Contains(got, "not testable now: lock-screen") {
		t.Errorf("proven text %q", got)
	}
	if s := eventSentence(h.hub.events[0], "pc-02"); !strings.Contains(s, "self-test FAILED: exec-guard") {
		t.Errorf("sentence %q", s)
	}

	before := len(h.hub.sentCommands())
	test.Tap(h.button(d.content, "Self-test"))
	h.wait("selftest sent", func() bool { return len(h.hub.sentCommands()) > before })
	if c := h.hub.sentCommands()[before]; c.Action != protocol.ActionSelfTest || c.Terminal != "t3" {
		t.Errorf("sent %+v", c)
	}
}
