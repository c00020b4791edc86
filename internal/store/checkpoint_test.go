package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeEvents commits n events of about size bytes each for terminal id.
func writeEvents(t *testing.T, s *Store, id string, first, n, size int) {
	t.Helper()
	pad := strings.Repeat("x", size)
	for i := 0; i < n; i += 100 {
		b := &Batch{}
		for j := i; j < i+100 && j < n; j++ {
			b.Events = append(b.Events, Event{Terminal: id, Seq: uint64(first + j + 1), Time: time.Now(), Kind: "test", Severity: "info",
				Data: map[string]string{"pad": pad}})
		}
		if _, err := s.Commit(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCommitsNeverCheckpoint: the writer does not checkpoint at commit time
// (SQLite's default would at 1,000 pages, ~4 MB, fsyncing inside a commit), so
// the WAL grows past that until a checkpoint runs, and Checkpoint then brings
// every frame into the database file.
func TestCommitsNeverCheckpoint(t *testing.T) {
	defer func(d time.Duration) { CheckpointInterval = d }(CheckpointInterval)
	CheckpointInterval = time.Hour // the background loop stays out of the way
	s, err := Open(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.w.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	addTerminal(t, s, "t-1", "pc")
	writeEvents(t, s, "t-1", 0, 3000, 2000) // ~6 MB of events
	if wal := size(t, s.Path()+"-wal"); wal < 6<<20 {
		t.Fatalf("WAL is %d bytes after ~6 MB of commits: something checkpointed inside a commit", wal)
	}
	frames, done, err := s.Checkpoint(context.Background())
	if err != nil || frames < 1500 || done != frames {
		t.Fatalf("Checkpoint: %d frames, %d checkpointed, %v", frames, done, err)
	}
	if db := size(t, s.Path()); db < 5<<20 {
		t.Fatalf("database file is %d bytes after the checkpoint", db)
	}
}

// TestBackgroundCheckpoint: the loop alone moves committed data into the
// database file, and under a steady stream of commits the WAL stays bounded
// (WALLimit) instead of growing with everything written.
func TestBackgroundCheckpoint(t *testing.T) {
	defer func(d time.Duration, l int64) { CheckpointInterval, WALLimit = d, l }(CheckpointInterval, WALLimit)
	CheckpointInterval, WALLimit = 20*time.Millisecond, 4<<20
	s := open(t)
	addTerminal(t, s, "t-1", "pc")
	writeEvents(t, s, "t-1", 0, 1000, 2000) // ~2 MB
	deadline := time.Now().Add(10 * time.Second)
	for size(t, s.Path()) < 2<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 10 s after 2 MB of commits: no background checkpoint", size(t, s.Path()))
		}
		time.Sleep(10 * time.Millisecond) // polling a file size, not synchronising
	}
	// ~16 MB more in back-to-back commits, faster than this disk may take the
	// checkpoints' fsyncs: the WAL may overshoot meanwhile, but the loop brings
	// it back under the limit.
	for round := 1; round <= 8; round++ {
		writeEvents(t, s, "t-1", round*1000, 1000, 2000)
	}
	peak := size(t, s.Path()+"-wal")
	for size(t, s.Path()+"-wal") > WALLimit {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("WAL still %d bytes (limit %d) long after the writes stopped", size(t, s.Path()+"-wal"), WALLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("WAL at the end of the writes: %.1f MB; back under the %d MB limit", float64(peak)/(1<<20), WALLimit>>20)
}

// TestTruncateGivesWayToReaders: a reader on an older snapshot makes a TRUNCATE
// checkpoint wait in the busy handler while it holds the writer. It gives up
// after TruncateWait instead of the 10 s busy timeout (a hub under a reconnect
// storm's lookups could not write for that long), and succeeds once the reader
// is gone.
func TestTruncateGivesWayToReaders(t *testing.T) {
	defer func(d time.Duration) { CheckpointInterval = d }(CheckpointInterval)
	CheckpointInterval = time.Hour // the background loop stays out of the way
	s := open(t)
	ctx := context.Background()
	addTerminal(t, s, "t-1", "pc")
	writeEvents(t, s, "t-1", 0, 200, 2000)
	rc, err := s.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var n int
	if _, err := rc.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := rc.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil || n != 200 {
		t.Fatalf("reader: %d events, %v", n, err)
	}
	writeEvents(t, s, "t-1", 200, 200, 2000) // past the reader's snapshot
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() { ok, err := s.truncateWAL(ctx); done <- result{ok, err} }()
	select {
	case r := <-done:
		if r.err != nil || r.ok {
			t.Fatalf("truncate under a reader: emptied %v, %v; want it to give up", r.ok, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("truncating the WAL held the writer for over 5 s waiting for a reader")
	}
	writeEvents(t, s, "t-1", 400, 100, 2000) // the writer is free again
	if _, err := rc.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if ok, err := s.truncateWAL(ctx); err != nil || !ok {
		t.Fatalf("truncate with no reader: emptied %v, %v", ok, err)
	}
	if wal := size(t, s.Path()+"-wal"); wal != 0 {
		t.Fatalf("WAL is %d bytes after a TRUNCATE checkpoint", wal)
	}
	var timeout int
	if err := s.w.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout != int(busyTimeout.Milliseconds()) {
		t.Fatalf("writer busy_timeout after truncating: %d, %v; want %d", timeout, err, busyTimeout.Milliseconds())
	}
}
