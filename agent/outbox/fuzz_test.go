package outbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// FuzzOpen feeds arbitrary bytes as the log file: Open must never panic, must
// yield only valid events in strictly increasing order, and must leave a log
// that accepts new events with higher numbers that survive a reopen.
func FuzzOpen(f *testing.F) {
	ev := protocol.Event{Seq: 1, Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Kind: "k", Severity: protocol.SeverityInfo, Data: map[string]string{"a": "b"}}
	r1, _ := encodeRecord(&ev)
	ev.Seq = 2
	r2, _ := encodeRecord(&ev)
	ev.Seq = 2
	dup, _ := encodeRecord(&ev)
	f.Add([]byte{})
	f.Add(r1)
	f.Add(append(append([]byte{}, r1...), r2...))
	f.Add(append(append([]byte{}, r2...), dup...))
	f.Add(append(append([]byte{}, r1...), r2[:len(r2)-3]...))
	f.Add(append(append([]byte{}, r1...), 0xff, 0xff, 0xff, 0xff))
	bad := append([]byte{}, r1...)
	bad[10] ^= 1
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := tempDir(t)
		if err := os.WriteFile(filepath.Join(dir, logName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := Open(dir, Options{MaxEvents: 1000, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		var last uint64
		for _, ev := range o.Pending(0, 0) {
			if err := ev.Validate(); err != nil {
				t.Fatalf("Open yielded an invalid event: %v", err)
			}
			if ev.Seq <= last {
				t.Fatalf("seq %d after %d", ev.Seq, last)
			}
			last = ev.Seq
		}
		n := o.Len()
		if err := o.Emit("after", protocol.SeverityInfo, nil); err != nil {
			t.Fatal(err)
		}
		next := o.NextSeq()
		if next-1 <= last {
			t.Fatalf("new event got seq %d, not above %d", next-1, last)
		}
		o.Close()
		o, err = Open(dir, Options{MaxEvents: 1000, MaxBytes: 1 << 20})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer o.Close()
		if o.Len() != n+1 || o.NextSeq() != next {
			t.Fatalf("reopen: len %d next %d, want %d and %d", o.Len(), o.NextSeq(), n+1, next)
		}
	})
}
