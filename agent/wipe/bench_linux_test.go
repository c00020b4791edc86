//go:build linux

package wipe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// fillTree writes total bytes in n files, 100 files a directory, owned by the
// patron.
func fillTree(b *testing.B, dir string, total, n int64) {
	b.Helper()
	size := total / n
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	for i := int64(0); i < n; i++ {
		d := filepath.Join(dir, "data", fmt.Sprintf("d%04d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o700); err != nil {
				b.Fatal(err)
			}
			if err := os.Chown(d, patronUID, patronGID); err != nil {
				b.Fatal(err)
			}
		}
		p := filepath.Join(d, fmt.Sprintf("f%06d", i))
		if err := os.WriteFile(p, buf, 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.Chown(p, patronUID, patronGID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWipe1GB50k measures a wipe of a home holding 1 GB in 50,000 files:
// ms until the station is ready, ms until the trash is purged, and, in the same
// run, an `rm -rf` of an identical tree. Size and count come from
// CARREL_WIPE_BENCH_BYTES and CARREL_WIPE_BENCH_FILES (defaults 1 GiB, 50000).
// CARREL_WIPE_BENCH_WORKERS overrides Config.PurgeWorkers (1: sequential).
// Run: go test -run '^$' -bench BenchmarkWipe1GB50k -benchtime 1x ./agent/wipe/
func BenchmarkWipe1GB50k(b *testing.B) {
	requireRoot(b)
	total := envInt("CARREL_WIPE_BENCH_BYTES", 1<<30)
	files := envInt("CARREL_WIPE_BENCH_FILES", 50000)
	var ready, purged, rmrf time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := newSandbox(b, b.TempDir())
		s.build(b)
		fillTree(b, s.home, total, files)
		twin := filepath.Join(s.root, "twin")
		mkdir(b, twin, 0o700, patronUID, patronGID)
		fillTree(b, twin, total, files)
		mustRun(b, "sync") // both trees on disk, no delayed allocation to skip
		cfg := s.config()
		cfg.PurgeWorkers = int(envInt("CARREL_WIPE_BENCH_WORKERS", int64(cfg.PurgeWorkers)))
		e := s.engine(b, cfg)
		b.StartTimer()

		runRm := func() {
			t1 := time.Now()
			if out, err := exec.Command("rm", "-rf", twin).CombinedOutput(); err != nil {
				b.Fatalf("rm -rf: %v %s", err, out)
			}
			rmrf += time.Since(t1)
			b.StopTimer()
			mustRun(b, "sync") // freed blocks written out before the next measurement
			b.StartTimer()
		}
		// alternate which one runs first, so neither pays for the other's writeback
		rmFirst := i%2 == 1 || os.Getenv("CARREL_WIPE_BENCH_RM_FIRST") != ""
		if rmFirst {
			runRm()
		}
		t0 := time.Now()
		rep, err := e.Wipe(context.Background(), Scope{User: patronName})
		if err != nil || !rep.Ready {
			b.Fatalf("wipe: %+v %v", rep, err)
		}
		ready += time.Since(t0)
		prep, err := e.Purge(context.Background(), rep.ID)
		if err != nil || !prep.Purged || prep.FilesRemoved < files {
			b.Fatalf("purge: %+v %v", prep, err)
		}
		purged += time.Since(t0)
		if !rmFirst {
			b.StopTimer()
			mustRun(b, "sync")
			b.StartTimer()
			runRm()
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(ready.Milliseconds())/n, "ms-ready")
	b.ReportMetric(float64(purged.Milliseconds())/n, "ms-purged")
	b.ReportMetric(float64(rmrf.Milliseconds())/n, "ms-rm-rf")
	b.ReportMetric(float64(purged)/float64(rmrf), "purged/rm-rf")
}
