package protocol

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSelfTestDoneRoundTrip(t *testing.T) {
	d := SelfTestDone{Took: 1234 * time.Millisecond, Results: []SelfTestResult{
		{Check: "exec-guard", Outcome: SelfTestFail, Reason: "the canary program ran: nothing refused it"},
		{Check: "download-guard", Outcome: SelfTestPass, Reason: "quarantined in 26ms"},
		{Check: "lock-screen", Outcome: SelfTestNotTestable, Reason: "no patron session"},
		{Check: "wipe", Outcome: SelfTestNotApplicable, Reason: "no such guard on darwin"},
	}}
	data := d.Data()
	if err := validData(TypeEvent, "data", data); err != nil {
		t.Fatal(err)
	}
	got := ParseSelfTestDone(data)
	if got.Took != 1234*time.Millisecond || len(got.Results) != 4 || got.Results[0].Check != "download-guard" {
		t.Fatalf("parsed %+v", got)
	}
	for _, r := range got.Results {
		if r.Reason == "" || !r.Outcome.Known() {
			t.Errorf("%+v", r)
		}
	}
	if d.Severity() != SeverityAlert {
		t.Error("a failure is not an alert")
	}
	sum := d.Summary(time.Unix(100, 0))
	if sum.Passed != 1 || len(sum.Failed) != 1 || sum.Failed[0] != "exec-guard" || len(sum.NotTestable) != 1 || sum.Proven() {
		t.Fatalf("summary %+v", sum)
	}
	ok := SelfTestDone{Results: []SelfTestResult{{Check: "state-dir", Outcome: SelfTestPass}}}
	okSum := ok.Summary(time.Unix(1, 0))
	if ok.Severity() != SeverityInfo || !okSum.Proven() {
		t.Error("an all-pass self-test is not info and proven")
	}
	// A long reason is clipped to what an event may carry.
	long := SelfTestDone{Results: []SelfTestResult{{Check: "wipe", Outcome: SelfTestFail, Reason: strings.Repeat("é", MaxText)}}}
	if err := validData(TypeEvent, "data", long.Data()); err != nil {
		t.Fatalf("long reason: %v", err)
	}
}

func TestStatusProofValidated(t *testing.T) {
	base := func(p *SelfTestSummary) *Status {
		return &Status{Hostname: "h", OS: "linux", AgentVersion: "1", Session: SessionFree, Proof: p}
	}
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		name string
		p    *SelfTestSummary
		bad  bool
	}{
		{"none", nil, false},
		{"good", &SelfTestSummary{Time: now, Passed: 6, Failed: []string{"exec-guard"}, NotTestable: []string{"lock-screen"}}, false},
		{"no time", &SelfTestSummary{Passed: 1}, true},
		{"negative", &SelfTestSummary{Time: now, Passed: -1}, true},
		{"too many", &SelfTestSummary{Time: now, Passed: MaxSelfTestChecks, Failed: []string{"a"}}, true},
		{"bad name", &SelfTestSummary{Time: now, Failed: []string{"Exec Guard"}}, true},
		{"long name", &SelfTestSummary{Time: now, NotTestable: []string{strings.Repeat("a", MaxSelfTestName+1)}}, true},
	} {
		err := base(c.p).Validate()
		if c.bad != (err != nil) {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v is not ErrInvalid", c.name, err)
		}
	}
}

// FuzzParseSelfTestDone: whatever an agent sends as a selftest.done's data,
// the parse does not panic and yields only known outcomes and valid names.
func FuzzParseSelfTestDone(f *testing.F) {
	f.Add("check.exec-guard", "fail: the canary ran", "took", "1.2s")
	f.Add("check.wipe", "pass", "check.", "pass")
	f.Add("check.X", "nope: x", "took", "-5h")
	f.Add("check.lock-screen", "not-testable: ", "check.lock-screen", "pass:")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		d := ParseSelfTestDone(map[string]string{k1: v1, k2: v2})
		for _, r := range d.Results {
			if !r.Outcome.Known() || !ValidSelfTestName(r.Check) {
				t.Fatalf("parsed %+v", r)
			}
		}
		s := d.Summary(time.Unix(1, 0))
		if err := (&Status{Hostname: "h", OS: "linux", AgentVersion: "1", Session: SessionFree, Proof: &s}).Validate(); err != nil && len(d.Results) <= MaxSelfTestChecks {
			t.Fatalf("summary of a parsed report does not validate: %v", err)
		}
	})
}
