package ui

// The PC's proof: its last self-test (agent/selftest), carried in the
// Status's Proof and in selftest.done events. The detail says "proven
// <time>" or what failed and why; the room's filter has "not proven".

import (
	"fmt"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// filterNotProven is the room filter's choice that shows the PCs whose last
// self-test failed, or that have none since their agent started.
const filterNotProven = "not proven"

// proven reports whether t's last self-test ran and no check failed.
func proven(t protocol.TerminalView) bool { return t.Status != nil && t.Status.Proof.Proven() }

// proofText is the detail's "Proof" row. evs are the terminal's recent
// events, newest first: the reasons of the failed checks come from the
// latest selftest.done among them.
func proofText(t protocol.TerminalView, evs []protocol.EventView, now time.Time) string {
	if t.Status == nil {
		return "not reported"
	}
	p := t.Status.Proof
	if p == nil || p.Time.IsZero() {
		return "not proven: no self-test yet (an admin can run one now)"
	}
	var s string
	if len(p.Failed) == 0 {
		s = fmt.Sprintf("proven %s: %d checks passed", timeText(p.Time, now), p.Passed)
	} else {
		reasons := lastSelfTestReasons(evs)
		var parts []string
		for _, name := range p.Failed {
			part := shown(name)
			if r := reasons[name]; r != "" {
				part += " (" + shown(r) + ")"
			}
			parts = append(parts, part)
		}
		s = fmt.Sprintf("NOT proven %s: FAILED %s", timeText(p.Time, now), strings.Join(parts, "; "))
	}
	if len(p.NotTestable) > 0 {
		names := make([]string, len(p.NotTestable))
		for i, n := range p.NotTestable {
			names[i] = shown(n)
		}
		s += "; not testable now: " + strings.Join(names, ", ")
	}
	return s
}

// lastSelfTestReasons maps each failed check of the newest selftest.done in
// evs to its reason.
func lastSelfTestReasons(evs []protocol.EventView) map[string]string {
	out := map[string]string{}
	var newest *protocol.EventView
	for i := range evs {
		if evs[i].Kind == protocol.EventSelfTestDone && (newest == nil || evs[i].Time.After(newest.Time)) {
			newest = &evs[i]
		}
	}
	if newest == nil {
		return out
	}
	for _, r := range protocol.ParseSelfTestDone(newest.Data).Results {
		if r.Outcome == protocol.SelfTestFail {
			out[r.Check] = r.Reason
		}
	}
	return out
}

// selfTestSentence is a selftest.done event in words.
func selfTestSentence(data map[string]string) string {
	d := protocol.ParseSelfTestDone(data)
	var passed int
	var failed []string
	for _, r := range d.Results {
		switch r.Outcome {
		case protocol.SelfTestPass:
			passed++
		case protocol.SelfTestFail:
			failed = append(failed, shown(r.Check)+because(r.Reason))
		}
	}
	if len(failed) == 0 {
		return fmt.Sprintf("the self-test proved its guards (%d checks passed)", passed)
	}
	return fmt.Sprintf("the self-test FAILED: %s (%d passed)", strings.Join(failed, "; "), passed)
}
