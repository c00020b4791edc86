package protocol

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Maintenance: an admin releases one PC, a branch or every PC to IT for a set
// time. The hub keeps the windows (one-off ones, and recurring ones per
// branch) and tells each PC in one ActionMaintenance how many seconds it has
// left; the agent pauses its guards and the wipe for that long on its own
// monotonic clock and re-arms them at the end, or at once when told to end.
// The agent does not keep a window across a restart: it starts armed, and the
// hub, which compares each PC's reported MaintenanceUntil with the open
// windows, sends a window still open again (hub/maintenance.go).

// Arguments of ActionMaintenance.
const (
	// ArgSeconds is how long the window still lasts, in whole seconds; "0"
	// ends it. The agent times it on its monotonic clock, so a change of the
	// PC's wall clock moves neither its end nor the re-arming.
	ArgSeconds = "seconds"
	// ArgUntil is the window's end as the hub's wall clock has it (RFC 3339),
	// only shown (the lock screen's "maintenance until 07:30").
	ArgUntil = "until"
)

// MaxMaintenance is the longest one window may last.
const MaxMaintenance = 7 * 24 * time.Hour

// ParseMaintenanceArgs reads ActionMaintenance's arguments: d is 0 to end the
// window.
func ParseMaintenanceArgs(args map[string]string) (d time.Duration, until time.Time, err error) {
	n, err := strconv.ParseInt(args[ArgSeconds], 10, 64)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxMaintenance {
		return 0, until, fmt.Errorf("%s %q is not a number of seconds from 0 to %d", ArgSeconds, Clip(args[ArgSeconds], 20), int64(MaxMaintenance/time.Second))
	}
	if n == 0 {
		return 0, until, nil
	}
	until, err = time.Parse(time.RFC3339, args[ArgUntil])
	if err != nil {
		return 0, until, fmt.Errorf("%s %q is not an RFC 3339 time", ArgUntil, Clip(args[ArgUntil], 40))
	}
	return time.Duration(n) * time.Second, until, nil
}

// MaintenanceArgs are ActionMaintenance's arguments for a window ending at
// until, as seen at now (d <= 0 ends it).
func MaintenanceArgs(until, now time.Time) map[string]string {
	d := until.Sub(now).Round(time.Second)
	if d <= 0 {
		return map[string]string{ArgSeconds: "0"}
	}
	return map[string]string{ArgSeconds: strconv.FormatInt(int64(d/time.Second), 10), ArgUntil: until.UTC().Format(time.RFC3339)}
}

// MaintenanceText is what the lock screen shows during a window, in the PC's
// local time.
func MaintenanceText(until time.Time) string {
	return "Maintenance until " + until.Local().Format("15:04")
}

// Scopes of a maintenance window.
const (
	ScopeTerminal = "terminal" // one PC (Target is its ID)
	ScopeBranch   = "branch"   // every PC of a branch (Target is its name)
	ScopeAll      = "all"      // every PC (Target is "")
)

// Maintenance windows refused.
var (
	ErrWindowPast  = errors.New("the window's end is not in the future")
	ErrWindowOrder = errors.New("the window ends before it starts")
	ErrWindowLong  = errors.New("the window is longer than 7 days")
)

// MaintenanceWindow is a one-off window, or (Recurring) one occurrence of a
// branch's schedule.
type MaintenanceWindow struct {
	ID        int64     `json:"id,omitempty"`
	Scope     string    `json:"scope"`
	Target    string    `json:"target,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Reason    string    `json:"reason,omitempty"`
	By        string    `json:"by,omitempty"`
	EndedAt   time.Time `json:"ended_at,omitzero"` // ended early by hand, or when its time was up
	EndedBy   string    `json:"ended_by,omitempty"`
	Recurring bool      `json:"recurring,omitempty"`
}

// Open says whether the window holds at now.
func (w MaintenanceWindow) Open(now time.Time) bool {
	return w.EndedAt.IsZero() && !now.Before(w.Start) && now.Before(w.End)
}

// Covers says whether the window applies to a PC.
func (w MaintenanceWindow) Covers(terminal, branch string) bool {
	switch w.Scope {
	case ScopeAll:
		return true
	case ScopeBranch:
		return branch != "" && w.Target == branch
	case ScopeTerminal:
		return w.Target == terminal
	}
	return false
}

// ValidateWindow checks a new window at now: its end in the future and after
// its start, at most MaxMaintenance long, a known scope.
func ValidateWindow(w MaintenanceWindow, now time.Time) error {
	switch w.Scope {
	case ScopeTerminal:
		if w.Target == "" {
			return fmt.Errorf("a terminal window names a terminal")
		}
	case ScopeBranch:
		if w.Target == "" {
			return fmt.Errorf("a branch window names a branch")
		}
		if err := ValidBranch(w.Target); err != nil {
			return err
		}
	case ScopeAll:
		if w.Target != "" {
			return fmt.Errorf("a window for every PC names no target")
		}
	default:
		return fmt.Errorf("scope %q is not terminal, branch or all", Clip(w.Scope, 20))
	}
	if !w.End.After(now) {
		return fmt.Errorf("%w (it ended at %s)", ErrWindowPast, w.End.Format(time.RFC3339))
	}
	if !w.End.After(w.Start) {
		return ErrWindowOrder
	}
	if w.End.Sub(w.Start) > MaxMaintenance {
		return ErrWindowLong
	}
	return text(TypeCommand, "reason", w.Reason, MaxText)
}

// MaintenanceUntil is when a PC's maintenance ends at now: overlapping and
// touching windows that cover it are merged (the PC stays released until the
// last of them ends); zero when none is open.
func MaintenanceUntil(ws []MaintenanceWindow, terminal, branch string, now time.Time) time.Time {
	var until time.Time
	for changed := true; changed; {
		changed = false
		for _, w := range ws {
			if !w.EndedAt.IsZero() || !w.Covers(terminal, branch) || !w.End.After(until) {
				continue
			}
			if w.Open(now) || (!until.IsZero() && !w.Start.After(until)) {
				until, changed = w.End, true
			}
		}
	}
	return until
}

// MaintenanceSchedule is a branch's recurring window: every Weekday from
// Start ("HH:MM", the hub's local time) for Minutes.
type MaintenanceSchedule struct {
	Branch  string       `json:"branch"`
	Weekday time.Weekday `json:"weekday"`
	Start   string       `json:"start"`
	Minutes int          `json:"minutes"`
	By      string       `json:"by,omitempty"`
}

// Validate checks a schedule.
func (s MaintenanceSchedule) Validate() error {
	if s.Branch == "" {
		return fmt.Errorf("a schedule names a branch")
	}
	if err := ValidBranch(s.Branch); err != nil {
		return err
	}
	if s.Weekday < time.Sunday || s.Weekday > time.Saturday {
		return fmt.Errorf("weekday %d is not 0 (Sunday) to 6", s.Weekday)
	}
	if _, err := time.Parse("15:04", s.Start); err != nil {
		return fmt.Errorf("start %q is not HH:MM", Clip(s.Start, 10))
	}
	if s.Minutes < 1 || s.Minutes > 24*60 {
		return fmt.Errorf("minutes %d is not 1 to 1440", s.Minutes)
	}
	return nil
}

// Occurrences are the schedule's windows that start from a day before now to
// now's day, in now's location: an open one is among them.
func (s MaintenanceSchedule) Occurrences(now time.Time) []MaintenanceWindow {
	hm, err := time.Parse("15:04", s.Start)
	if err != nil {
		return nil
	}
	var out []MaintenanceWindow
	for _, back := range []int{1, 0} {
		d := now.AddDate(0, 0, -back)
		if d.Weekday() != s.Weekday {
			continue
		}
		start := time.Date(d.Year(), d.Month(), d.Day(), hm.Hour(), hm.Minute(), 0, 0, now.Location())
		out = append(out, MaintenanceWindow{Scope: ScopeBranch, Target: s.Branch, Start: start,
			End: start.Add(time.Duration(s.Minutes) * time.Minute), By: s.By, Recurring: true})
	}
	return out
}

// ParseWeekday reads "wed", "Wednesday" or "3".
func ParseWeekday(s string) (time.Weekday, error) {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 6 {
		return time.Weekday(n), nil
	}
	l := strings.ToLower(s)
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if len(l) >= 3 && strings.HasPrefix(name, l) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("weekday %q is not a day's name or 0 to 6", Clip(s, 20))
}

// Staff ops of maintenance windows (admin only).
const (
	OpMaintenanceStart    StaffOp = "maintenance.start"    // MaintenanceWindow → MaintenanceWindow
	OpMaintenanceEnd      StaffOp = "maintenance.end"      // MaintenanceEndArgs → nothing
	OpMaintenanceList     StaffOp = "maintenance.list"     // nothing → MaintenanceList
	OpMaintenanceSchedule StaffOp = "maintenance.schedule" // MaintenanceScheduleArgs → nothing
)

// MaintenanceEndArgs ends a one-off window early.
type MaintenanceEndArgs struct {
	ID int64 `json:"id"`
}

// MaintenanceScheduleArgs adds a branch's recurring window, or removes it
// (Remove; Start and Minutes then unused).
type MaintenanceScheduleArgs struct {
	MaintenanceSchedule
	Remove bool `json:"remove,omitempty"`
}

// MaintenanceList is the one-off windows not yet over (and those ended in the
// last day), and every branch's schedule.
type MaintenanceList struct {
	Windows   []MaintenanceWindow   `json:"windows,omitempty"`
	Schedules []MaintenanceSchedule `json:"schedules,omitempty"`
	Error     string                `json:"error,omitempty"`
}
