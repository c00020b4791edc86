package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeQuery: any query either decodes to values within their bounds or
// is refused with 400 naming a parameter; it never panics.
func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{"", "branch=north", "state=free&online=true", "state=busy", "online=yes",
		"from=2026-01-01&to=2026-02-01&by=week", "from=2026-03-01&to=2026-02-01", "from=2016-01-01&to=2026-01-01",
		"to=2026-02-30", "by=fortnight", "last_event_id=-1", "last_event_id=18446744073709551616", "colour=red",
		"state=free&state=locked", "%zz=1", "a=%zz", "key=carrel_x&branch=", ";;;", "from=2026-01-01T00:00:00Z"} {
		f.Add(s)
	}
	allowed := []string{"branch", "state", "online", "from", "to", "by", "last_event_id"}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := decodeQuery(raw, allowed, now)
		if err != nil {
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Param == "" || !strings.Contains(he.Msg, he.Param) {
				t.Fatalf("%q: %v (%+v)", raw, err, he)
			}
			return
		}
		if !q.To.After(q.From) || q.To.Sub(q.From) > MaxCountRange {
			t.Fatalf("%q: range %v to %v accepted", raw, q.From, q.To)
		}
		if q.By != "hour" && q.By != "day" && q.By != "week" && q.By != "month" {
			t.Fatalf("%q: by %q", raw, q.By)
		}
		if len(q.Branch) > 64 {
			t.Fatalf("%q: branch %q", raw, q.Branch)
		}
	})
}
