package store

import (
	"context"
	"fmt"
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

// BenchmarkCommitStatuses persists one flush's worth of a fleet's statuses:
// 256 terminals' latest status (~600 bytes of JSON each) in one transaction,
// out of 2,000 terminals, as the hub's store writer does every StatusFlush.
func BenchmarkCommitStatuses(b *testing.B) {
	s, err := Open(b.TempDir() + "/hub.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const terms, batch = 2000, 256
	for i := 0; i < terms; i++ {
		addTerminal(b, s, fmt.Sprintf("t-%05d", i), fmt.Sprintf("pc-%05d", i))
	}
	status := []byte(`{"agent_version":"1.0.0","os":"linux","os_version":"12","session":"in_use","cpu_percent":12.5,"mem_used":123456789,"mem_total":987654321,` +
		`"disk_free":12345678901,"uptime_s":123456,"locked":false,"last_wipe":{"at":"2026-12-07T10:00:00Z","ok":true,"ms":420},"pad":"` + strings.Repeat("x", 300) + `"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		up := make([]StatusUpdate, batch)
		for j := range up {
			up[j] = StatusUpdate{Terminal: fmt.Sprintf("t-%05d", (i*batch+j)%terms), OS: "linux", OSVersion: "12", AgentVersion: "1.0.0", Status: status, Seen: time.Now()}
		}
		if _, err := s.Commit(context.Background(), &Batch{Statuses: up}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/batch, "µs/status")
}
