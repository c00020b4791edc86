package hub

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// storedCPU stops the hub (which flushes every status waiting) and reads the
// CPU figure of the terminal's persisted status.
func storedCPU(t *testing.T, th *testHub, id string) float64 {
	t.Helper()
	if err := th.stop(t); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(th.dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	term, err := st.Terminal(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var s protocol.Status
	if err := json.Unmarshal(term.LastStatus, &s); err != nil {
		t.Fatalf("stored status %q: %v", term.LastStatus, err)
	}
	return s.CPUPercent
}

// A status that changes only the gauges is shown at once but persisted at most
// once per GaugesEvery; any other change is persisted at the next flush.
func TestGaugeOnlyStatusesArePersistedLessOften(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		want  float64 // the CPU figure persisted in the end
	}{
		{"within GaugesEvery", time.Hour, 60},
		{"GaugesEvery passed", time.Nanosecond, 70},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := startHub(t, func(c *Config) { c.GaugesEvery = tc.every })
			c := th.mustEnroll(t, "pc-01")
			a, _ := th.connect(t, c, 1, nil)
			st := status(c.id)
			st.Session, st.CPUPercent = protocol.SessionInUse, 60
			a.send(&st)
			waitFor(t, 5*time.Second, "the session change stored", func() bool {
				term, _ := th.Store().Terminal(context.Background(), c.id)
				return strings.Contains(string(term.LastStatus), `"session":"in-use"`)
			})
			gauges := st
			gauges.CPUPercent = 70
			a.send(&gauges)
			waitFor(t, 5*time.Second, "the live view to show the new gauges", func() bool {
				v, err := th.Terminal(context.Background(), c.id)
				return err == nil && v.Status != nil && v.Status.CPUPercent == 70
			})
			if got := storedCPU(t, th, c.id); got != tc.want {
				t.Fatalf("persisted CPU %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSameButGauges(t *testing.T) {
	base := status("pc-01")
	base.BootTime = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		edit func(*protocol.Status)
		same bool
	}{
		{"CPU", func(s *protocol.Status) { s.CPUPercent = 99 }, true},
		{"memory and disk", func(s *protocol.Status) { s.MemUsed, s.DiskUsed = 7, 8 }, true},
		{"same boot time in another zone", func(s *protocol.Status) { s.BootTime = s.BootTime.In(time.FixedZone("x", 3600)) }, true},
		{"session", func(s *protocol.Status) { s.Session = protocol.SessionInUse }, false},
		{"locked", func(s *protocol.Status) { s.Locked = true }, false},
		{"last wipe", func(s *protocol.Status) { s.LastWipe = "clean 4ms" }, false},
		{"boot time", func(s *protocol.Status) { s.BootTime = s.BootTime.Add(time.Second) }, false},
		{"memory total", func(s *protocol.Status) { s.MemTotal++ }, false},
		{"outbox dropped", func(s *protocol.Status) { s.OutboxDropped++ }, false},
	} {
		b := base
		tc.edit(&b)
		if got := sameButGauges(&base, &b); got != tc.same {
			t.Errorf("%s: sameButGauges = %v, want %v", tc.name, got, tc.same)
		}
	}
}
