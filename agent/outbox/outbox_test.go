package outbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func open(t testing.TB, dir string, maxEvents int, maxBytes int64) *Outbox {
	t.Helper()
	o, err := Open(dir, Options{MaxEvents: maxEvents, MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func emitN(t testing.TB, o *Outbox, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := o.Emit("test.event", protocol.SeverityInfo, map[string]string{"i": strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// seqs returns the pending sequence numbers and the "i" data of each.
func seqs(o *Outbox) (s []uint64, is []string) {
	for _, ev := range o.Pending(0, 0) {
		s = append(s, ev.Seq)
		is = append(is, ev.Data["i"])
	}
	return s, is
}

func logSize(t *testing.T, dir string) int64 {
	t.Helper()
	st, err := os.Stat(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestEmitPersistsAcrossReopen(t *testing.T) {
	dir := tempDir(t)
	fixed := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	o, err := Open(dir, Options{MaxEvents: 100, MaxBytes: 1 << 20, Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	if o.NextSeq() != 1 {
		t.Fatalf("fresh outbox NextSeq = %d, want 1", o.NextSeq())
	}
	if err := o.Emit("agent.started", protocol.SeverityWarn, map[string]string{"version": "1.2"}); err != nil {
		t.Fatal(err)
	}
	emitN(t, o, 1, 4)
	o.Close()
	if err := o.Emit("x", protocol.SeverityInfo, nil); err != ErrClosed {
		t.Fatalf("Emit after Close = %v", err)
	}

	o = open(t, dir, 100, 1<<20)
	got := o.Pending(0, 0)
	if len(got) != 5 {
		t.Fatalf("pending after reopen = %d, want 5", len(got))
	}
	first := got[0]
	if first.Seq != 1 || first.Kind != "agent.started" || first.Severity != protocol.SeverityWarn ||
		first.Data["version"] != "1.2" || !first.Time.Equal(fixed) {
		t.Fatalf("first event came back as %+v", first)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if o.NextSeq() != 6 {
		t.Fatalf("NextSeq after reopen = %d, want 6", o.NextSeq())
	}
	if p := o.Pending(3, 1); len(p) != 1 || p[0].Seq != 4 {
		t.Fatalf("Pending(3,1) = %+v", p)
	}
}

func TestEmitRefusesInvalidEvents(t *testing.T) {
	o := open(t, tempDir(t), 100, 1<<20)
	if err := o.Emit("", protocol.SeverityInfo, nil); err == nil {
		t.Fatal("empty kind accepted")
	}
	if err := o.Emit("k", "loud", nil); err == nil {
		t.Fatal("unknown severity accepted")
	}
	big := map[string]string{}
	for i := 0; i < 32; i++ {
		big[fmt.Sprint("k", i)] = string(bytes.Repeat([]byte("x"), protocol.MaxText))
	}
	if err := o.Emit("k", protocol.SeverityInfo, big); err == nil {
		t.Fatal("event larger than a frame accepted")
	}
	if o.NextSeq() != 1 || o.Len() != 0 {
		t.Fatalf("refused events consumed seq: next %d len %d", o.NextSeq(), o.Len())
	}
}

func TestTornTailIsTruncatedAndSeqNotReused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(data []byte) []byte
		keep   int
	}{
		{"cut mid last record", func(d []byte) []byte { return d[:len(d)-7] }, 4},
		{"cut mid header", func(d []byte) []byte { return d[:len(d)-recordLen(d, 4)+3] }, 4},
		{"garbage appended", func(d []byte) []byte { return append(d, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5) }, 5},
		{"zero-filled tail", func(d []byte) []byte { return append(d, make([]byte, 4096)...) }, 5},
		{"flipped byte in record 3", func(d []byte) []byte {
			off := recordLen(d, 0) + recordLen(d, 1) + recordLen(d, 2) - 3
			d[off] ^= 0x40
			return d
		}, 2},
		{"huge length", func(d []byte) []byte { return append(d, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0) }, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			o := open(t, dir, 100, 1<<20)
			emitN(t, o, 0, 5)
			o.Close()
			path := filepath.Join(dir, logName)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}

			o = open(t, dir, 100, 1<<20)
			s, is := seqs(o)
			if len(s) != tc.keep {
				t.Fatalf("kept %d events (%v), want %d", len(s), s, tc.keep)
			}
			for i := range s {
				if s[i] != uint64(i+1) || is[i] != strconv.Itoa(i) {
					t.Fatalf("event %d = seq %d data %s", i, s[i], is[i])
				}
			}
			if o.NextSeq() <= 5 {
				t.Fatalf("NextSeq %d after a damaged tail may reuse a number already given out", o.NextSeq())
			}
			// The file is clean again: a new event survives another reopen.
			emitN(t, o, 100, 1)
			next := o.NextSeq()
			o.Close()
			o = open(t, dir, 100, 1<<20)
			s, is = seqs(o)
			if len(s) != tc.keep+1 || is[len(is)-1] != "100" || s[len(s)-1] != next-1 {
				t.Fatalf("after repair and reopen: seqs %v data %v", s, is)
			}
		})
	}
}

// recordLen is the on-disk length of record i of a log.
func recordLen(d []byte, i int) int {
	off := 0
	for ; i > 0; i-- {
		off += headerSize + int(uint32(d[off])|uint32(d[off+1])<<8|uint32(d[off+2])<<16|uint32(d[off+3])<<24)
	}
	return headerSize + int(uint32(d[off])|uint32(d[off+1])<<8|uint32(d[off+2])<<16|uint32(d[off+3])<<24)
}

func TestOverflowDropsOldestAndCounts(t *testing.T) {
	dir := tempDir(t)
	o := open(t, dir, 10, 1<<20)
	emitN(t, o, 0, 25)
	s, is := seqs(o)
	if len(s) != 10 || s[0] != 16 || s[9] != 25 || is[0] != "15" {
		t.Fatalf("after overflow: seqs %v data %v, want 16..25", s, is)
	}
	if o.Dropped() != 15 {
		t.Fatalf("Dropped = %d, want 15", o.Dropped())
	}
	o.Close()
	o = open(t, dir, 10, 1<<20)
	if s, _ := seqs(o); len(s) != 10 || s[0] != 16 {
		t.Fatalf("after reopen: %v", s)
	}
	if o.Dropped() != 15 || o.NextSeq() != 26 {
		t.Fatalf("after reopen Dropped %d NextSeq %d, want 15 and 26", o.Dropped(), o.NextSeq())
	}
}

func TestOverflowByBytesKeepsFileBounded(t *testing.T) {
	dir := tempDir(t)
	const maxBytes = 16 << 10
	o := open(t, dir, 100000, maxBytes)
	pad := string(bytes.Repeat([]byte("p"), 200))
	for i := 0; i < 1000; i++ {
		if err := o.Emit("test.big", protocol.SeverityInfo, map[string]string{"i": strconv.Itoa(i), "pad": pad}); err != nil {
			t.Fatal(err)
		}
		if sz := logSize(t, dir); sz > maxBytes {
			t.Fatalf("after %d events the log is %d bytes, over the bound %d", i+1, sz, maxBytes)
		}
	}
	s, _ := seqs(o)
	if s[len(s)-1] != 1000 || uint64(len(s))+o.Dropped() != 1000 {
		t.Fatalf("kept %d (last %d) dropped %d: does not add up to 1000", len(s), s[len(s)-1], o.Dropped())
	}
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1]+1 {
			t.Fatalf("kept events are not the newest contiguous run: %v", s)
		}
	}
}

func TestAckCompacts(t *testing.T) {
	dir := tempDir(t)
	o := open(t, dir, 10000, 64<<10)
	emitN(t, o, 0, 50)
	if err := o.Ack(50); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 0 || logSize(t, dir) != 0 {
		t.Fatalf("everything acked: len %d, log %d bytes, want 0 and 0", o.Len(), logSize(t, dir))
	}
	// Partial acks: the acked head is rewritten away before it passes a fifth of the bound.
	for round := 0; round < 40; round++ {
		emitN(t, o, round*20, 20)
		if err := o.Ack(o.NextSeq() - 5); err != nil { // leave 4 pending
			t.Fatal(err)
		}
		if sz := logSize(t, dir); sz > 64<<10 {
			t.Fatalf("round %d: log %d bytes over the bound", round, sz)
		}
	}
	want := o.Pending(0, 0)
	if len(want) != 4 {
		t.Fatalf("pending %d, want 4", len(want))
	}
	if err := o.Ack(3); err != nil { // an old ack changes nothing
		t.Fatal(err)
	}
	next := o.NextSeq()
	o.Close()
	o = open(t, dir, 10000, 64<<10)
	got := o.Pending(0, 0)
	if len(got) != 4 || got[0].Seq != want[0].Seq || got[3].Seq != want[3].Seq {
		t.Fatalf("after reopen pending %v, want %v", got, want)
	}
	if o.NextSeq() != next {
		t.Fatalf("NextSeq %d after reopen, want %d", o.NextSeq(), next)
	}
}

func TestSeqMonotonicWhenAllAckedAndReopened(t *testing.T) {
	dir := tempDir(t)
	for round := 0; round < 3; round++ {
		o := open(t, dir, 100, 1<<20)
		start := o.NextSeq()
		if start != uint64(round*10+1) {
			t.Fatalf("round %d starts at %d, want %d", round, start, round*10+1)
		}
		emitN(t, o, 0, 10)
		if err := o.Ack(o.NextSeq() - 1); err != nil {
			t.Fatal(err)
		}
		o.Close()
	}
}

func TestAckBeyondNextIsClamped(t *testing.T) {
	o := open(t, tempDir(t), 100, 1<<20)
	emitN(t, o, 0, 3)
	if err := o.Ack(1000); err != nil {
		t.Fatal(err)
	}
	emitN(t, o, 0, 1)
	if p := o.Pending(0, 0); len(p) != 1 || p[0].Seq != 4 {
		t.Fatalf("an ack past the end hid a later event: %+v", p)
	}
}

func TestLostMetaSkipsAhead(t *testing.T) {
	dir := tempDir(t)
	o := open(t, dir, 100, 1<<20)
	emitN(t, o, 0, 3)
	o.Close()
	if err := os.WriteFile(filepath.Join(dir, metaName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, 100, 1<<20)
	if o.Len() != 3 || o.NextSeq() <= 3+reserveBlock {
		t.Fatalf("corrupt meta: len %d next %d", o.Len(), o.NextSeq())
	}
}

func TestNotify(t *testing.T) {
	o := open(t, tempDir(t), 100, 1<<20)
	select {
	case <-o.Notify():
		t.Fatal("notified before any event")
	default:
	}
	emitN(t, o, 0, 3)
	select {
	case <-o.Notify():
	default:
		t.Fatal("no notification after Emit")
	}
}

func TestConcurrentEmitAndAck(t *testing.T) {
	o := open(t, tempDir(t), 100000, 16<<20)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := o.Emit("c", protocol.SeverityInfo, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.After(30 * time.Second)
		for {
			p := o.Pending(0, 10)
			if len(p) > 0 {
				if err := o.Ack(p[len(p)-1].Seq); err != nil {
					t.Error(err)
					return
				}
				continue
			}
			select {
			case <-o.Notify():
			case <-writersDone:
				if o.Len() == 0 {
					return
				}
			case <-deadline:
				t.Error("acker did not drain the outbox")
				return
			}
		}
	}()
	wg.Wait()
	close(writersDone)
	<-done
	if o.NextSeq() != 201 || o.Len() != 0 {
		t.Fatalf("NextSeq %d Len %d, want 201 and 0", o.NextSeq(), o.Len())
	}
}

func BenchmarkEmit(b *testing.B) {
	o, err := Open(tempDir(b), Options{MaxEvents: 10000, MaxBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	data := map[string]string{"file": "setup.exe", "reason": "pe executable", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := o.Emit("download.blocked", protocol.SeverityAlert, data); err != nil {
			b.Fatal(err)
		}
		if i%100 == 99 {
			if err := o.Ack(o.NextSeq() - 1); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkOpen10k(b *testing.B) {
	dir := tempDir(b)
	o, err := Open(dir, Options{MaxEvents: 10000, MaxBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	data := map[string]string{"file": "setup.exe", "reason": "pe executable"}
	for i := 0; i < 10000; i++ {
		ev := protocol.Event{Seq: uint64(i + 1), Time: time.Now().UTC(), Kind: "download.blocked", Severity: protocol.SeverityAlert, Data: data}
		raw, _ := encodeRecord(&ev)
		o.f.Write(raw)
	}
	o.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o, err := Open(dir, Options{MaxEvents: 10000, MaxBytes: 16 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if o.Len() != 10000 {
			b.Fatalf("len %d", o.Len())
		}
		o.Close()
	}
}

// Each stored event is logged with its kind's event ID at a level of its
// severity, so that IT finds it in the journal or the Windows Event Log.
func TestEventsAreLoggedWithTheirID(t *testing.T) {
	var buf bytes.Buffer
	o, err := Open(tempDir(t), Options{MaxEvents: 10, MaxBytes: 1 << 20, Log: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Emit(protocol.EventDownloadBlocked, protocol.SeverityAlert, protocol.DownloadBlocked{Name: "setup.exe", SHA256: "ab", Reason: "a Windows program"}.Data()); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["kind"] == string(protocol.EventDownloadBlocked) {
			rec = m
		}
	}
	if rec == nil || rec["level"] != "ERROR" || rec["eid"] != float64(protocol.EventDownloadBlocked.LogID()) || rec["name"] != "setup.exe" {
		t.Fatalf("logged: %v (all: %s)", rec, buf.String())
	}
}
