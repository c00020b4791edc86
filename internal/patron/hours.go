package patron

import (
	"fmt"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// dayHours are the hours in force on now's local date: the date's exception,
// else its weekday's; ok false when the rules have no opening hours for that
// day at all (always open, no closing time).
func dayHours(r *protocol.Rules, now time.Time) (h protocol.DayHours, ok bool) {
	date := now.Format(time.DateOnly)
	for _, e := range r.Exceptions {
		if e.Date == date {
			return e.DayHours, true
		}
	}
	if len(r.Hours) == 7 {
		return r.Hours[now.Weekday()], true
	}
	return h, false
}

// at is the instant of a "15:04" clock time on now's local date.
func at(now time.Time, clock string) time.Time {
	m, _ := protocol.ParseClock(clock) // validated when the rules were set
	y, mo, d := now.Date()
	return time.Date(y, mo, d, m/60, m%60, 0, 0, now.Location())
}

// closing says whether the library is open at now under r and, if it has
// hours that day, when it closes (zero when it does not). A sign-in with fewer
// than CutoffMinutes left before closing is refused as closed too.
func closing(r *protocol.Rules, now time.Time) (open bool, closesAt time.Time) {
	h, ok := dayHours(r, now)
	if !ok {
		return true, time.Time{}
	}
	if h.Closed {
		return false, time.Time{}
	}
	opens, closes := at(now, h.Open), at(now, h.Close)
	if now.Before(opens) || !now.Before(closes) {
		return false, closes
	}
	if closes.Sub(now) < time.Duration(r.CutoffMinutes)*time.Minute {
		return false, closes
	}
	return true, closes
}

// endOfDay is the next local midnight after now.
func endOfDay(now time.Time) time.Time {
	y, m, d := now.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, now.Location())
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWeek reads opening hours written as staff would, e.g.
// "mon-fri 09:00-20:00; sat 10:00-16:00; sun closed": days or ranges of days
// (sun, mon, ... sat) with HH:MM-HH:MM or "closed", separated by ';'. Days
// left out are closed. "always" is no opening hours at all (nil: always
// open, no closing time).
func ParseWeek(spec string) ([]protocol.DayHours, error) {
	spec = strings.TrimSpace(strings.ToLower(spec))
	if spec == "always" {
		return nil, nil
	}
	week := make([]protocol.DayHours, 7)
	set := make([]bool, 7)
	for _, part := range strings.Split(spec, ";") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("hours %q: want DAYS HH:MM-HH:MM or DAYS closed", strings.TrimSpace(part))
		}
		days, err := parseDays(f[0])
		if err != nil {
			return nil, err
		}
		h, err := ParseDayHours(f[1])
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			if set[d] {
				return nil, fmt.Errorf("hours: %s given twice", dayNames[d])
			}
			week[d], set[d] = h, true
		}
	}
	for d := range week {
		if !set[d] {
			week[d] = protocol.DayHours{Closed: true}
		}
	}
	return week, nil
}

// ParseDayHours reads "09:00-20:00" or "closed".
func ParseDayHours(s string) (protocol.DayHours, error) {
	if strings.EqualFold(s, "closed") {
		return protocol.DayHours{Closed: true}, nil
	}
	o, c, ok := strings.Cut(s, "-")
	h := protocol.DayHours{Open: o, Close: c}
	if !ok {
		return h, fmt.Errorf("hours %q: want HH:MM-HH:MM or closed", s)
	}
	for _, t := range []string{o, c} {
		if _, err := protocol.ParseClock(t); err != nil {
			return h, err
		}
	}
	return h, nil
}

func parseDays(s string) ([]int, error) {
	idx := func(n string) (int, error) {
		for i, d := range dayNames {
			if d == n {
				return i, nil
			}
		}
		return 0, fmt.Errorf("hours: unknown day %q (want sun, mon, tue, wed, thu, fri, sat)", n)
	}
	var out []int
	for _, item := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(item, "-")
		i, err := idx(a)
		if err != nil {
			return nil, err
		}
		if !isRange {
			out = append(out, i)
			continue
		}
		j, err := idx(b)
		if err != nil {
			return nil, err
		}
		for k := i; ; k = (k + 1) % 7 {
			out = append(out, k)
			if k == j {
				break
			}
		}
	}
	return out, nil
}

// FormatWeek writes hours the way ParseWeek reads them, one day a line.
func FormatWeek(week []protocol.DayHours) string {
	if len(week) != 7 {
		return "always open (no opening hours set)\n"
	}
	var b strings.Builder
	for d, h := range week {
		fmt.Fprintf(&b, "%s %s\n", dayNames[d], formatDay(h))
	}
	return b.String()
}

func formatDay(h protocol.DayHours) string {
	if h.Closed {
		return "closed"
	}
	return h.Open + "-" + h.Close
}
