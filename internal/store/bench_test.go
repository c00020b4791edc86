package store

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkCommitLatency commits one batch of 20 events (~1 KB each) per
// iteration and reports the median, p99 and worst commit: the tail is where a
// checkpoint inside a commit (an fsync of the database file) would show.
func BenchmarkCommitLatency(b *testing.B) {
	s, err := Open(b.TempDir() + "/hub.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	addTerminal(b, s, "t-1", "pc")
	pad := strings.Repeat("x", 1000)
	lat := make([]time.Duration, 0, b.N)
	seq := uint64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := &Batch{}
		for j := 0; j < 20; j++ {
			seq++
			batch.Events = append(batch.Events, Event{Terminal: "t-1", Seq: seq, Time: time.Now(), Kind: "k", Severity: "info", Data: map[string]string{"p": pad}})
		}
		t0 := time.Now()
		if _, err := s.Commit(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
