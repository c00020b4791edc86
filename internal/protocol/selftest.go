package protocol

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SelfTestOutcome is how one self-test check ended (agent/selftest). There is
// no "skipped": a check that could not run says which of the last two it was
// and why.
type SelfTestOutcome string

const (
	SelfTestPass SelfTestOutcome = "pass"
	SelfTestFail SelfTestOutcome = "fail"
	// SelfTestNotApplicable: the guard does not exist on this OS or is
	// disabled in the configuration.
	SelfTestNotApplicable SelfTestOutcome = "not-applicable"
	// SelfTestNotTestable: the guard applies but cannot be exercised now (no
	// patron session to show the lock in, a tool the check needs is absent).
	SelfTestNotTestable SelfTestOutcome = "not-testable"
)

// SelfTestOutcomes lists the outcomes in a stable order.
var SelfTestOutcomes = []SelfTestOutcome{SelfTestPass, SelfTestFail, SelfTestNotApplicable, SelfTestNotTestable}

// Known reports whether o is in SelfTestOutcomes.
func (o SelfTestOutcome) Known() bool { return slices.Contains(SelfTestOutcomes, o) }

// Text is the outcome in the words staff read.
func (o SelfTestOutcome) Text() string {
	switch o {
	case SelfTestPass:
		return "passed"
	case SelfTestFail:
		return "FAILED"
	case SelfTestNotApplicable:
		return "not applicable here"
	case SelfTestNotTestable:
		return "not testable now"
	}
	return "unknown"
}

// Limits of a self-test report.
const (
	MaxSelfTestChecks = 24 // checks in one report (Event.Data holds MaxDataEntries)
	MaxSelfTestName   = 48 // a check's name: lower-case letters, digits and '-'
)

// ValidSelfTestName reports whether s can name a check: 1 to MaxSelfTestName
// bytes of a-z, 0-9 and '-'.
func ValidSelfTestName(s string) bool {
	if s == "" || len(s) > MaxSelfTestName {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// SelfTestResult is one check's result.
type SelfTestResult struct {
	Check   string
	Outcome SelfTestOutcome
	Reason  string // why it failed or could not run; what it saw when it passed
}

// SelfTestDone is the data of EventSelfTestDone: one entry per check, keyed
// "check.NAME", whose value is the outcome, then ": " and the reason; and
// "took" (a Go duration).
type SelfTestDone struct {
	Results []SelfTestResult
	Took    time.Duration
}

// selfTestKeyPrefix starts the data key of each check.
const selfTestKeyPrefix = "check."

// Data is the event's wire form. Reasons are clipped so that every value fits.
func (d SelfTestDone) Data() map[string]string {
	m := map[string]string{DataTook: d.Took.Round(time.Millisecond).String()}
	for i, r := range d.Results {
		if i >= MaxSelfTestChecks {
			break
		}
		v := string(r.Outcome)
		if r.Reason != "" {
			v += ": " + Clip(r.Reason, MaxText-len(v)-2)
		}
		m[selfTestKeyPrefix+r.Check] = v
	}
	return m
}

// ParseSelfTestDone reads the data of an EventSelfTestDone, sorted by check
// name. Entries that are not checks, or whose outcome is unknown, are left
// out: the data came from an agent and is shown, not trusted.
func ParseSelfTestDone(m map[string]string) SelfTestDone {
	var d SelfTestDone
	d.Took, _ = time.ParseDuration(m[DataTook])
	for k, v := range m {
		name, ok := strings.CutPrefix(k, selfTestKeyPrefix)
		if !ok || !ValidSelfTestName(name) {
			continue
		}
		o, reason, _ := strings.Cut(v, ": ")
		if !SelfTestOutcome(o).Known() {
			continue
		}
		d.Results = append(d.Results, SelfTestResult{Check: name, Outcome: SelfTestOutcome(o), Reason: reason})
	}
	slices.SortFunc(d.Results, func(a, b SelfTestResult) int { return strings.Compare(a.Check, b.Check) })
	return d
}

// Severity is the event's severity: alert when a check failed (staff must
// see it), info otherwise.
func (d SelfTestDone) Severity() Severity {
	for _, r := range d.Results {
		if r.Outcome == SelfTestFail {
			return SeverityAlert
		}
	}
	return SeverityInfo
}

// Summary is the report's Status form, as of at.
func (d SelfTestDone) Summary(at time.Time) SelfTestSummary {
	s := SelfTestSummary{Time: at.UTC()}
	for _, r := range d.Results {
		switch r.Outcome {
		case SelfTestPass:
			s.Passed++
		case SelfTestFail:
			s.Failed = append(s.Failed, r.Check)
		case SelfTestNotTestable:
			s.NotTestable = append(s.NotTestable, r.Check)
		}
	}
	return s
}

// SelfTestSummary is the last self-test in the Status: when it ran, how many
// checks passed, and the names of those that failed or could not run now.
// The reasons are in the EventSelfTestDone.
type SelfTestSummary struct {
	Time        time.Time `json:"time"`
	Passed      int       `json:"passed"`
	Failed      []string  `json:"failed,omitempty"`
	NotTestable []string  `json:"not_testable,omitempty"`
}

// Proven reports whether the PC's last self-test ran and no check failed.
func (s *SelfTestSummary) Proven() bool { return s != nil && !s.Time.IsZero() && len(s.Failed) == 0 }

func (s *SelfTestSummary) validate(t Type, prefix string) error {
	if s.Time.IsZero() {
		return &FieldError{t, prefix + "time", "is missing"}
	}
	if s.Passed < 0 || s.Passed > MaxSelfTestChecks {
		return &FieldError{t, prefix + "passed", "is out of range"}
	}
	if len(s.Failed)+len(s.NotTestable)+s.Passed > MaxSelfTestChecks {
		return &FieldError{t, prefix + "failed", fmt.Sprintf("lists more than %d checks in all", MaxSelfTestChecks)}
	}
	for _, l := range []struct {
		name  string
		names []string
	}{{"failed", s.Failed}, {"not_testable", s.NotTestable}} {
		for _, n := range l.names {
			if !ValidSelfTestName(n) {
				return &FieldError{t, prefix + l.name, "holds a name that is not a check's"}
			}
		}
	}
	return nil
}
