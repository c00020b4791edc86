//go:build linux

package downloads

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"golang.org/x/sys/unix"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func BenchmarkQuarantineLatency1MB(b *testing.B)   { benchQuarantine(b, 1<<20) }
func BenchmarkQuarantineLatency100MB(b *testing.B) { benchQuarantine(b, 100<<20) }

// benchQuarantine measures the time from the browser's final rename of a
// program to the guard's download.blocked event, which is sent after the file
// and its record are in the quarantine. Real inotify, real classifier.
func benchQuarantine(b *testing.B, size int) {
	home := b.TempDir()
	dl := filepath.Join(home, "Downloads")
	os.Mkdir(dl, 0o755)
	sink := &eventrec.Recorder{}
	env := startGuard(b, home, sink)
	moved := make(chan time.Time, 1)
	env.q.afterMove = func() { moved <- time.Now() }
	data := pe(size)
	lat := make([]time.Duration, 0, b.N)
	movedLat := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		binary.LittleEndian.PutUint64(data[64:], uint64(i)) // distinct content each time
		final := filepath.Join(dl, "setup"+strconv.Itoa(i)+".exe")
		part := final + ".crdownload"
		if err := os.WriteFile(part, data, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := os.Rename(part, final); err != nil {
			b.Fatal(err)
		}
		select {
		case t1 := <-moved:
			movedLat = append(movedLat, t1.Sub(t0))
		case <-time.After(30 * time.Second):
			b.Fatal("not moved into quarantine within 30s")
		}
		name := filepath.Base(final)
		ev := sink.Wait(b, 30*time.Second, "download.blocked for "+name, func(e eventrec.Event) bool {
			return e.Kind == protocol.EventDownloadBlocked && e.Data[protocol.DataName] == name
		})
		lat = append(lat, ev.At.Sub(t0))
	}
	// moved: out of the patron's reach (renamed or copied into the quarantine);
	// event: record written and synced, download.blocked emitted.
	reportPercentiles(b, "moved", movedLat)
	reportPercentiles(b, "event", lat)
}

// BenchmarkRawInotifyLatency is the floor: rename to a bare inotify read.
func BenchmarkRawInotifyLatency(b *testing.B) {
	dir := b.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		part := filepath.Join(dir, "x.crdownload")
		if err := os.WriteFile(part, []byte("MZ"), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := os.Rename(part, filepath.Join(dir, "f"+strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Read(fd, buf); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportPercentiles(b, "event", lat)
}

func reportPercentiles(b *testing.B, name string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds())
	}
	b.ReportMetric(pct(0.50), name+"-p50-µs")
	b.ReportMetric(pct(0.99), name+"-p99-µs")
}
