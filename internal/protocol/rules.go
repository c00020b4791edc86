package protocol

import (
	"fmt"
	"time"
)

// Rules are a branch's time rules for patron sessions (DESIGN.md, "The
// patron's session"), kept by the hub per branch name; the branch "" holds
// the default rules, used by every branch without rules of its own. Times of
// day are the hub's local time, "15:04". A day's hours do not cross midnight.
type Rules struct {
	// SessionMinutes is the longest one session runs (0: no limit but the
	// allowance and closing).
	SessionMinutes int `json:"session_minutes"`
	// DailyMinutes is a card's allowance per day across every PC of the
	// library (0: no daily limit). Guest passes have their own minutes.
	DailyMinutes int `json:"daily_minutes"`
	// Warnings are the minutes before a session's end at which the patron is
	// warned; nil takes DefaultWarnings.
	Warnings []int `json:"warnings,omitempty"`
	// IdleMinutes ends a session after that long without input (0: never);
	// IdleWarnSeconds before that the patron is warned (0: 60).
	IdleMinutes     int `json:"idle_minutes,omitempty"`
	IdleWarnSeconds int `json:"idle_warn_seconds,omitempty"`
	// CutoffMinutes refuses a sign-in with fewer minutes than this left
	// before closing.
	CutoffMinutes int `json:"cutoff_minutes,omitempty"`
	// Hours are the opening hours per weekday, Sunday first: none (always
	// open, no closing time) or exactly 7.
	Hours []DayHours `json:"hours,omitempty"`
	// Exceptions override Hours on given dates (a holiday, late opening).
	Exceptions []HoursException `json:"exceptions,omitempty"`
}

// DayHours is one weekday's opening hours.
type DayHours struct {
	Closed bool   `json:"closed,omitempty"`
	Open   string `json:"open,omitempty"`  // "09:00"
	Close  string `json:"close,omitempty"` // "20:00"
}

// HoursException is one date's hours in place of its weekday's: closed, or
// special hours.
type HoursException struct {
	Date string `json:"date"` // "2006-01-02"
	DayHours
}

// DefaultWarnings are the minutes before the end a patron is warned at.
var DefaultWarnings = []int{10, 5, 1}

// DefaultIdleWarnSeconds is the idle warning's lead.
const DefaultIdleWarnSeconds = 60

// MaxExceptions bounds a branch's dated exceptions.
const MaxExceptions = 366

// DefaultRules are a new hub's default rules: 60-minute sessions, 120 minutes a
// day, warnings at 10, 5 and 1 minutes, no idle end, no opening hours.
func DefaultRules() Rules {
	return Rules{SessionMinutes: 60, DailyMinutes: 120, Warnings: append([]int(nil), DefaultWarnings...)}
}

// ParseClock reads "15:04" as minutes after midnight.
func ParseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("time of day %q: want HH:MM", Clip(s, 10))
	}
	return t.Hour()*60 + t.Minute(), nil
}

func (d DayHours) validate(what string) error {
	if d.Closed {
		if d.Open != "" || d.Close != "" {
			return fmt.Errorf("%s: closed, with hours", what)
		}
		return nil
	}
	o, err := ParseClock(d.Open)
	if err != nil {
		return fmt.Errorf("%s: opening: %w", what, err)
	}
	c, err := ParseClock(d.Close)
	if err != nil {
		return fmt.Errorf("%s: closing: %w", what, err)
	}
	if c <= o {
		return fmt.Errorf("%s: closes at %s, not after it opens at %s", what, d.Close, d.Open)
	}
	return nil
}

// Validate checks the rules' ranges and hours.
func (r *Rules) Validate() error {
	for _, f := range []struct {
		name   string
		v, max int
	}{{"session_minutes", r.SessionMinutes, 24 * 60}, {"daily_minutes", r.DailyMinutes, 24 * 60},
		{"idle_minutes", r.IdleMinutes, 24 * 60}, {"idle_warn_seconds", r.IdleWarnSeconds, 3600},
		{"cutoff_minutes", r.CutoffMinutes, 24 * 60}} {
		if f.v < 0 || f.v > f.max {
			return fmt.Errorf("rules: %s is out of range (0 to %d)", f.name, f.max)
		}
	}
	if r.IdleMinutes > 0 && r.IdleWarnSeconds >= r.IdleMinutes*60 {
		return fmt.Errorf("rules: idle_warn_seconds is not shorter than idle_minutes")
	}
	if len(r.Warnings) > MaxWarnings {
		return fmt.Errorf("rules: more than %d warnings", MaxWarnings)
	}
	for _, w := range r.Warnings {
		if w < 1 || w > 24*60 {
			return fmt.Errorf("rules: warning %d is out of range (1 to %d minutes)", w, 24*60)
		}
	}
	if len(r.Hours) != 0 && len(r.Hours) != 7 {
		return fmt.Errorf("rules: hours has %d days; want none or 7 (Sunday first)", len(r.Hours))
	}
	for i, d := range r.Hours {
		if err := d.validate("hours of " + time.Weekday(i).String()); err != nil {
			return fmt.Errorf("rules: %w", err)
		}
	}
	if len(r.Exceptions) > MaxExceptions {
		return fmt.Errorf("rules: more than %d exceptions", MaxExceptions)
	}
	seen := map[string]bool{}
	for _, e := range r.Exceptions {
		if _, err := time.Parse(time.DateOnly, e.Date); err != nil {
			return fmt.Errorf("rules: exception date %q: want YYYY-MM-DD", Clip(e.Date, 12))
		}
		if seen[e.Date] {
			return fmt.Errorf("rules: two exceptions for %s", e.Date)
		}
		seen[e.Date] = true
		if err := e.DayHours.validate("exception of " + e.Date); err != nil {
			return fmt.Errorf("rules: %w", err)
		}
	}
	return nil
}

// WarningsOrDefault is r.Warnings, or DefaultWarnings when none are set.
func (r *Rules) WarningsOrDefault() []int {
	if r.Warnings == nil {
		return append([]int(nil), DefaultWarnings...)
	}
	return append([]int(nil), r.Warnings...)
}

// ILSLink is the state of the hub's link to the library's ILS (SIP2), for the
// console and the hub's readiness checks.
type ILSLink struct {
	State     ILSState  `json:"state"`
	Since     time.Time `json:"since,omitzero"`       // when it came to be in State
	LastError string    `json:"last_error,omitempty"` // the last failure, plain text (never a card or PIN)
	Addr      string    `json:"addr,omitempty"`       // host:port of the ILS
	Profile   string    `json:"profile,omitempty"`
}

// ILSState says whether card sign-in works.
type ILSState string

const (
	ILSUp            ILSState = "up"             // the last exchange with the ILS worked
	ILSDown          ILSState = "down"           // the last exchange failed: card sign-in is refused as ils-down
	ILSNotConfigured ILSState = "not-configured" // no ILS: guest passes only
	ILSUnknown       ILSState = "unknown"        // configured, not asked yet
)
