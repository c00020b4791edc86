package patron

import (
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
