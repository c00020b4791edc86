// Package outbox is the agent's durable, bounded queue of events for the hub.
//
// Every component of the agent reports through Emit. An event is numbered with a
// per-agent sequence number, appended to a log file in the state directory and
// fsynced before Emit returns, and stays there until the hub acknowledges it
// (Ack). Sequence numbers start at 1, strictly increase and are never reused: not
// after a restart, not after overflow drops, not after a corrupt tail (a block of
// numbers is reserved ahead in the meta file, and a damaged log resumes past it).
//
// The outbox is bounded by a number of events and a number of bytes. When a new
// event does not fit, the OLDEST pending events are dropped, and the count of
// dropped events is persisted and reported (Dropped): loss is never silent.
//
// Files (in the directory given to Open):
//
//	outbox.log   records: uint32 LE length, uint32 LE CRC-32C of the payload, payload (JSON protocol.Event)
//	outbox.meta  JSON: floor (every seq ≤ floor is acked or dropped), dropped count, reserved seq
//
// A torn or corrupt record ends the log: at Open it and everything after it are
// truncated (and logged). Compaction is cheap: when everything is acked the log is
// truncated to zero; otherwise it is rewritten once the acked prefix exceeds a
// fifth of the byte bound. The on-disk log stays within the byte bound (live
// events use at most four fifths of it).
//
// Each stored event is also written to the agent's log with its kind's event
// ID (protocol.EventKind.LogID), so IT finds it in the journal or the Windows
// Event Log (internal/oslog).
//
// It is not a general message queue: one process owns the directory, one
// consumer (the link) reads it. Limitations (2026-11): pending events are also
// held in memory (bounded by the same byte bound); on Windows the directory entry
// is not fsynced after a rename (NTFS journals metadata).
package outbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

const (
	logName  = "outbox.log"
	metaName = "outbox.meta"

	headerSize = 8
	// MaxPayload is the largest JSON event accepted: it must fit in one frame with
	// the envelope around it.
	MaxPayload = protocol.MaxFrame - 1024
	// reserveBlock is how many sequence numbers are reserved ahead in the meta file.
	reserveBlock = 1024
	// metaLossGap is how far the sequence jumps when the meta file is unreadable
	// and the reservation is unknown.
	metaLossGap = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Emit and Ack after Close.
var ErrClosed = errors.New("outbox closed")

// Options bound and instrument an Outbox.
type Options struct {
	// MaxEvents is the most pending events kept; at least 1.
	MaxEvents int
	// MaxBytes bounds the log file; at least 4 KiB.
	MaxBytes int64
	// Log receives warnings about drops and corruption; nil discards.
	Log *slog.Logger
	// Now stamps events; nil means time.Now.
	Now func() time.Time
}

type record struct {
	ev  protocol.Event
	raw []byte // the whole record as on disk, header included
}

type meta struct {
	Floor    uint64 `json:"floor"`
	Dropped  uint64 `json:"dropped"`
	Reserved uint64 `json:"reserved"`
}

// Outbox is safe for concurrent use.
type Outbox struct {
	dir       string
	log       *slog.Logger
	now       func() time.Time
	maxEvents int
	liveBytes int64 // budget for pending records: 4/5 of MaxBytes
	deadLimit int64 // acked bytes tolerated at the head of the log: 1/5 of MaxBytes
	notify    chan struct{}

	mu     sync.Mutex // guards every field below
	f      *os.File   // outbox.log, append-only
	dead   int64      // bytes at the head of the log whose seq ≤ meta.Floor
	live   int64      // bytes of recs
	recs   []record   // pending, seq > meta.Floor, increasing
	meta   meta
	next   uint64
	closed bool
	broken error // a failed write whose damage could not be undone
}

// Open opens or creates the outbox in dir (which must exist).
func Open(dir string, opt Options) (*Outbox, error) {
	if opt.MaxEvents < 1 {
		return nil, fmt.Errorf("open outbox: max events %d is below 1", opt.MaxEvents)
	}
	if opt.MaxBytes < 4<<10 {
		return nil, fmt.Errorf("open outbox: max bytes %d is below 4096", opt.MaxBytes)
	}
	o := &Outbox{
		dir:       dir,
		log:       opt.Log,
		now:       opt.Now,
		maxEvents: opt.MaxEvents,
		liveBytes: opt.MaxBytes - opt.MaxBytes/5,
		deadLimit: opt.MaxBytes / 5,
		notify:    make(chan struct{}, 1),
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	metaOK, err := o.readMeta()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open outbox log: %w", err)
	}
	last, corrupt, err := o.scan(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open outbox log: %w", err)
	}
	o.next = max(o.meta.Floor, last) + 1
	switch {
	case !metaOK:
		o.next += metaLossGap
		o.log.Warn("Outbox meta file unreadable; sequence numbers skip ahead", "nextSeq", o.next)
	case corrupt:
		o.next = max(o.next, o.meta.Reserved)
	}
	o.f, err = os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open outbox log: %w", err)
	}
	if o.next >= o.meta.Reserved || !metaOK {
		m := o.meta
		m.Reserved = o.next + reserveBlock
		if err := o.writeMeta(m); err != nil {
			o.f.Close()
			return nil, err
		}
	}
	return o, nil
}

func (o *Outbox) readMeta() (ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(o.dir, metaName))
	if errors.Is(err, os.ErrNotExist) {
		// A fresh outbox, or a meta lost with its log: a log with records but no meta
		// is handled as unreadable (below) by the caller only if the log is non-empty.
		if st, serr := os.Stat(filepath.Join(o.dir, logName)); serr == nil && st.Size() > 0 {
			return false, nil
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read outbox meta: %w", err)
	}
	var m meta
	if err := json.Unmarshal(data, &m); err != nil {
		o.log.Error("Outbox meta file is corrupt", "err", err)
		return false, nil
	}
	o.meta = m
	return true, nil
}

// writeMeta replaces the meta file atomically and makes it durable.
func (o *Outbox) writeMeta(m meta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("write outbox meta: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(o.dir, metaName), data, 0o600); err != nil {
		return fmt.Errorf("write outbox meta: %w", err)
	}
	o.meta = m
	return nil
}

// scan reads the log, keeps records above the floor, and truncates a bad tail.
func (o *Outbox) scan(f *os.File) (last uint64, corrupt bool, err error) {
	r := bufio.NewReaderSize(f, 64<<10)
	var off int64
	var why string
	for {
		rec, n, bad := readRecord(r, last)
		if bad == "" && n == 0 {
			break // clean end
		}
		if bad != "" {
			why = bad
			break
		}
		off += n
		last = rec.ev.Seq
		if rec.ev.Seq <= o.meta.Floor {
			o.dead += n
			continue
		}
		o.recs = append(o.recs, rec)
		o.live += n
	}
	if why == "" {
		return last, false, nil
	}
	st, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("stat outbox log: %w", err)
	}
	o.log.Warn("Outbox log has a torn or corrupt tail; truncating it",
		"reason", why, "offset", off, "bytesDropped", st.Size()-off)
	if err := f.Truncate(off); err != nil {
		return 0, false, fmt.Errorf("truncate outbox log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, false, fmt.Errorf("sync outbox log: %w", err)
	}
	return last, true, nil
}

// readRecord reads one record. It returns n == 0 and bad == "" at a clean end of
// file, and a non-empty bad for anything that is not a whole valid record whose
// seq is above prev.
func readRecord(r io.Reader, prev uint64) (rec record, n int64, bad string) {
	var hdr [headerSize]byte
	k, err := io.ReadFull(r, hdr[:])
	if k == 0 && err == io.EOF {
		return record{}, 0, ""
	}
	if err != nil {
		return record{}, 0, "torn header"
	}
	size := binary.LittleEndian.Uint32(hdr[0:4])
	if size == 0 || size > MaxPayload {
		return record{}, 0, fmt.Sprintf("bad length %d", size)
	}
	raw := make([]byte, headerSize+int(size))
	copy(raw, hdr[:])
	if _, err := io.ReadFull(r, raw[headerSize:]); err != nil {
		return record{}, 0, "torn payload"
	}
	payload := raw[headerSize:]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return record{}, 0, "checksum mismatch"
	}
	ev, err := decodeEvent(payload)
	if err != nil {
		return record{}, 0, err.Error()
	}
	if ev.Seq <= prev {
		return record{}, 0, fmt.Sprintf("sequence %d does not follow %d", ev.Seq, prev)
	}
	return record{ev: ev, raw: raw}, int64(len(raw)), ""
}

func decodeEvent(payload []byte) (protocol.Event, error) {
	var ev protocol.Event
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return protocol.Event{}, fmt.Errorf("bad json: %v", err)
	}
	if dec.More() {
		return protocol.Event{}, errors.New("trailing data")
	}
	if err := ev.Validate(); err != nil {
		return protocol.Event{}, err
	}
	return ev, nil
}

func encodeRecord(ev *protocol.Event) ([]byte, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("event is %d bytes, more than %d", len(payload), MaxPayload)
	}
	raw := make([]byte, headerSize, headerSize+len(payload))
	binary.LittleEndian.PutUint32(raw[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(raw[4:8], crc32.Checksum(payload, castagnoli))
	return append(raw, payload...), nil
}

// Emit numbers one event, stores it durably and wakes the consumer. data values
// are short plain text; the event must pass protocol validation.
func (o *Outbox) Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error {
	ev := protocol.Event{Time: o.now().UTC(), Kind: kind, Severity: sev}
	if len(data) > 0 {
		ev.Data = make(map[string]string, len(data))
		for k, v := range data {
			ev.Data[k] = v
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if o.broken != nil {
		return fmt.Errorf("emit %s: %w", kind, o.broken)
	}
	ev.Seq = o.next
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("emit %s: %w", kind, err)
	}
	raw, err := encodeRecord(&ev)
	if err != nil {
		return fmt.Errorf("emit %s: %w", kind, err)
	}
	size := int64(len(raw))
	if size > o.liveBytes {
		return fmt.Errorf("emit %s: event of %d bytes exceeds the outbox bound", kind, size)
	}

	// Make room by dropping the oldest, and reserve sequence numbers ahead.
	m := o.meta
	drop, freed := 0, int64(0)
	for len(o.recs)-drop+1 > o.maxEvents || o.live-freed+size > o.liveBytes {
		freed += int64(len(o.recs[drop].raw))
		drop++
	}
	if drop > 0 {
		m.Floor = o.recs[drop-1].ev.Seq
		m.Dropped += uint64(drop)
	}
	if o.next >= m.Reserved {
		m.Reserved = o.next + reserveBlock
	}
	if m != o.meta {
		if err := o.writeMeta(m); err != nil {
			return fmt.Errorf("emit %s: %w", kind, err)
		}
	}
	if drop > 0 {
		o.log.Warn("Outbox full; dropped oldest events", "dropped", drop, "droppedTotal", m.Dropped, "throughSeq", m.Floor)
		o.recs = append(o.recs[:0:0], o.recs[drop:]...)
		o.live -= freed
		o.dead += freed
	}

	if err := o.append(raw); err != nil {
		return fmt.Errorf("emit %s: %w", kind, err)
	}
	o.recs = append(o.recs, record{ev: ev, raw: raw})
	o.live += size
	o.next++
	o.logEvent(&ev)
	if err := o.compact(); err != nil {
		o.log.Warn("Outbox compaction failed", "err", err)
	}
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return nil
}

// logEvent writes a stored event to the agent's log, and so to the OS's
// (oslog: the journal, the Windows Event Log) with the kind's event ID: an
// alert as an error, a warning as a warning, the rest as information.
func (o *Outbox) logEvent(ev *protocol.Event) {
	level := slog.LevelInfo
	switch ev.Severity {
	case protocol.SeverityAlert:
		level = slog.LevelError
	case protocol.SeverityWarn:
		level = slog.LevelWarn
	}
	if !o.log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, 3+len(ev.Data))
	attrs = append(attrs, slog.String("kind", string(ev.Kind)), slog.Uint64("seq", ev.Seq))
	if id := ev.Kind.LogID(); id != 0 {
		attrs = append(attrs, slog.Int("eid", int(id)))
	}
	keys := make([]string, 0, len(ev.Data))
	for k := range ev.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, ev.Data[k]))
	}
	o.log.LogAttrs(context.Background(), level, "Event "+string(ev.Kind), attrs...)
}

// append writes and syncs one record; on failure it cuts the file back so the
// log never holds a partial record followed by good ones.
func (o *Outbox) append(raw []byte) error {
	st, err := o.f.Stat()
	if err != nil {
		return fmt.Errorf("stat outbox log: %w", err)
	}
	_, werr := o.f.Write(raw)
	if werr == nil {
		werr = o.f.Sync()
	}
	if werr != nil {
		if terr := o.f.Truncate(st.Size()); terr != nil {
			o.broken = fmt.Errorf("outbox log damaged: %w", errors.Join(werr, terr))
		}
		return fmt.Errorf("append outbox log: %w", werr)
	}
	return nil
}

// Ack removes every event with seq ≤ seq: the hub has stored them.
func (o *Outbox) Ack(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	if seq >= o.next {
		o.log.Warn("Hub acknowledged events this agent never numbered", "ackSeq", seq, "nextSeq", o.next)
		seq = o.next - 1
	}
	if seq <= o.meta.Floor {
		return nil
	}
	m := o.meta
	m.Floor = seq
	if err := o.writeMeta(m); err != nil {
		return fmt.Errorf("ack %d: %w", seq, err)
	}
	i := sort.Search(len(o.recs), func(i int) bool { return o.recs[i].ev.Seq > seq })
	var freed int64
	for _, r := range o.recs[:i] {
		freed += int64(len(r.raw))
	}
	o.recs = append(o.recs[:0:0], o.recs[i:]...)
	o.live -= freed
	o.dead += freed
	if err := o.compact(); err != nil {
		return fmt.Errorf("ack %d: %w", seq, err)
	}
	return nil
}

// compact drops the acked head of the log: a truncation when nothing is pending,
// a rewrite of the pending records when the head has grown past deadLimit.
func (o *Outbox) compact() error {
	if o.dead == 0 {
		return nil
	}
	if len(o.recs) == 0 {
		if err := o.f.Truncate(0); err != nil {
			return fmt.Errorf("truncate outbox log: %w", err)
		}
		if err := o.f.Sync(); err != nil {
			return fmt.Errorf("sync outbox log: %w", err)
		}
		o.dead = 0
		return nil
	}
	if o.dead <= o.deadLimit {
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(int(o.live))
	for _, r := range o.recs {
		buf.Write(r.raw)
	}
	path := filepath.Join(o.dir, logName)
	if err := o.f.Close(); err != nil {
		o.broken = fmt.Errorf("close outbox log: %w", err)
		return o.broken
	}
	werr := atomicfile.WriteFile(path, buf.Bytes(), 0o600)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		o.broken = fmt.Errorf("reopen outbox log: %w", err)
		return o.broken
	}
	o.f = f
	if werr != nil {
		return fmt.Errorf("rewrite outbox log: %w", werr)
	}
	o.dead = 0
	return nil
}

// Pending returns up to max pending events with seq > after, in order. The
// events' Data maps are shared and must not be modified.
func (o *Outbox) Pending(after uint64, max int) []protocol.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := sort.Search(len(o.recs), func(i int) bool { return o.recs[i].ev.Seq > after })
	n := len(o.recs) - i
	if max > 0 && n > max {
		n = max
	}
	out := make([]protocol.Event, n)
	for j := range out {
		out[j] = o.recs[i+j].ev
	}
	return out
}

// Len is the number of pending events.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.recs)
}

// NextSeq is the sequence number the next event will get.
func (o *Outbox) NextSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next
}

// Dropped is the number of events lost to overflow since the outbox was created.
func (o *Outbox) Dropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.meta.Dropped
}

// Notify is signalled (without blocking, coalesced) after each Emit. It has one
// consumer: the link.
func (o *Outbox) Notify() <-chan struct{} { return o.notify }

// Close closes the log file. Emit and Ack fail afterwards.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	return o.f.Close()
}
