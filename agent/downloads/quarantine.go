package downloads

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Errors of the quarantine; test with errors.Is.
var (
	// ErrNoRecord: no record has that id.
	ErrNoRecord = errors.New("no such quarantine record")
	// errWeakDir: an existing quarantine directory others could read or write.
	errWeakDir = errors.New("quarantine directory is not private")
	// errBusy: someone still has the file open for writing; its close will
	// raise another event.
	errBusy = errors.New("file is still open for writing")
	// errCrossDevice: a rename would cross filesystems; the file is copied.
	errCrossDevice = errors.New("cross-device move")
)

// Quarantine is a directory only the service can read that holds blocked files,
// stored once per content hash under blobs/, with one JSON record per
// quarantined file under records/. Its methods are safe for concurrent use.
type Quarantine struct {
	dir string
	mu  sync.Mutex // serialises Put and Release so blob references stay exact

	// afterMove, if set (benchmarks), is called once a file is out of the
	// patron's reach, before its record is written and synced.
	afterMove func()
}

// OpenQuarantine opens or creates the quarantine at dir. A new directory is made
// with mode 0700; an existing one that is not owned by the service or that
// others can read is refused, not repaired.
func OpenQuarantine(dir string) (*Quarantine, error) {
	dir = filepath.Clean(dir)
	for _, d := range append([]string{dir}, quarantineSubdirsOf(dir)...) {
		if err := makePrivateDir(d); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("open quarantine: %w", err)
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return nil, fmt.Errorf("open quarantine: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("open quarantine: %s is not a directory", d)
		}
		if err := checkPrivateDir(d, fi); err != nil {
			return nil, fmt.Errorf("open quarantine: %w", err)
		}
	}
	return &Quarantine{dir: dir}, nil
}

// quarantineSubdirs are the directories of a quarantine below its root.
var quarantineSubdirs = []string{"blobs", "records", "tmp", "released"}

// CheckQuarantineDir reports, changing nothing, whether the quarantine at
// dir and its directories are private to the service (what OpenQuarantine
// refuses otherwise). The self-test proves it with this (agent/selftest).
func CheckQuarantineDir(dir string) error {
	dir = filepath.Clean(dir)
	for _, d := range append([]string{dir}, quarantineSubdirsOf(dir)...) {
		fi, err := os.Lstat(d)
		if err != nil {
			return fmt.Errorf("check quarantine: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("check quarantine: %s is not a directory", d)
		}
		if err := checkPrivateDir(d, fi); err != nil {
			return err
		}
	}
	return nil
}

func quarantineSubdirsOf(dir string) []string {
	out := make([]string, len(quarantineSubdirs))
	for i, s := range quarantineSubdirs {
		out[i] = filepath.Join(dir, s)
	}
	return out
}

// QuarantineAt is the quarantine at dir as it is, without OpenQuarantine's
// privacy check and without creating anything: for the self-test, which
// reports that check on its own (CheckQuarantineDir) and must still find
// and discard its canaries in a quarantine that fails it.
func QuarantineAt(dir string) *Quarantine { return &Quarantine{dir: filepath.Clean(dir)} }

// Discard deletes a record and, when no other record refers to it, its
// content, without putting anything back: for the self-test's canaries,
// which nobody is to get back. The file is gone for good.
func (q *Quarantine) Discard(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	rec, err := q.Get(id)
	if err != nil {
		return err
	}
	if err := os.Remove(q.recordPath(id)); err != nil {
		return fmt.Errorf("discard %s: %w", id, err)
	}
	if !q.blobInUse(rec.SHA256) {
		if err := os.Remove(q.blobPath(rec.SHA256)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("discard %s: %w", id, err)
		}
	}
	return nil
}

// Dir returns the quarantine's directory.
func (q *Quarantine) Dir() string { return q.dir }

func (q *Quarantine) blobPath(sha string) string { return filepath.Join(q.dir, "blobs", sha) }
func (q *Quarantine) recordPath(id string) string {
	return filepath.Join(q.dir, "records", id+".json")
}

// put moves the held file into the quarantine and writes its record. sha is the
// classifier's hash of the held file; on a copy across filesystems the hash of
// what was copied is recorded instead.
func (q *Quarantine) put(h *heldFile, sha, reason, kind string, now time.Time) (Record, error) {
	size, uid, gid, mode := h.meta()
	rec := Record{
		ID: randomID(), SHA256: sha, Size: size, OriginalPath: h.path,
		UID: uid, GID: gid, Mode: mode, Reason: reason, Kind: kind, Time: now.UTC(),
	}
	// Refuse before anything moves: a record that cannot be written must never
	// cost the patron a file.
	if err := rec.validate(); err != nil {
		return Record{}, fmt.Errorf("quarantine %s: %w", h.path, err)
	}
	tmpDir := filepath.Join(q.dir, "tmp")
	staged := filepath.Join(tmpDir, rec.ID)
	err := h.moveInto(tmpDir, rec.ID)
	if errors.Is(err, errCrossDevice) {
		rec.SHA256, rec.Size, err = q.copyIn(h, staged)
		if err == nil {
			if err = h.removeOriginal(); err != nil {
				os.Remove(staged)
			}
		}
	}
	if err != nil {
		return Record{}, err
	}
	if q.afterMove != nil {
		q.afterMove()
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	blob := q.blobPath(rec.SHA256)
	if _, err := os.Lstat(blob); err == nil {
		os.Remove(staged) // same content already held
	} else if err := atomicfile.Rename(staged, blob); err != nil {
		return Record{}, fmt.Errorf("store quarantined %s: %w", h.path, err)
	}
	if err := q.writeRecord(rec); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// copyIn copies the held file's content to dst, hashing it, and syncs it.
func (q *Quarantine) copyIn(h *heldFile, dst string) (sha string, size int64, err error) {
	src, err := h.reader()
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", h.path, err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, fmt.Errorf("copy into quarantine: %w", err)
	}
	hash := sha256.New()
	size, err = io.Copy(io.MultiWriter(f, hash), src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return "", 0, fmt.Errorf("copy %s into quarantine: %w", h.path, err)
	}
	return hex.EncodeToString(hash.Sum(nil)), size, nil
}

// writeRecord writes rec durably; put has made the blob's name durable
// before, so both reach the disk before the event says so.
func (q *Quarantine) writeRecord(rec Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode quarantine record: %w", err)
	}
	if err := atomicfile.WriteFile(q.recordPath(rec.ID), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write quarantine record: %w", err)
	}
	return nil
}

// Get returns the record with that id.
func (q *Quarantine) Get(id string) (Record, error) {
	if !isHex(id, 32) {
		return Record{}, fmt.Errorf("get %q: %w", id, ErrNoRecord)
	}
	data, err := os.ReadFile(q.recordPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, fmt.Errorf("get %s: %w", id, ErrNoRecord)
	}
	if err != nil {
		return Record{}, fmt.Errorf("read quarantine record: %w", err)
	}
	rec, err := DecodeRecord(data)
	if err != nil {
		return Record{}, fmt.Errorf("read quarantine record %s: %w", id, err)
	}
	if rec.ID != id {
		return Record{}, fmt.Errorf("read quarantine record %s: %w", id, badRecord("id does not match its file name"))
	}
	return rec, nil
}

// List returns every record, oldest first. A malformed record is skipped and
// reported in the error, which is returned with the good ones.
func (q *Quarantine) List() ([]Record, error) {
	ents, err := os.ReadDir(filepath.Join(q.dir, "records"))
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	var recs []Record
	var errs []error
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		rec, err := q.Get(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
	return recs, errors.Join(errs...)
}

// Release puts the quarantined file back at its original path with its owner
// and permission bits, and deletes the record. It refuses to replace anything at
// that path and never follows a symbolic link on the way there.
func (q *Quarantine) Release(id string) (Record, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rec, err := q.Get(id)
	if err != nil {
		return Record{}, err
	}
	blob, err := os.Open(q.blobPath(rec.SHA256))
	if err != nil {
		return Record{}, fmt.Errorf("release %s: %w", id, err)
	}
	// Staff released this content: remember it first, since the restored file
	// is judged again the moment it lands and must not come straight back.
	if err := os.WriteFile(filepath.Join(q.dir, "released", rec.SHA256), nil, 0o600); err != nil {
		blob.Close()
		return Record{}, fmt.Errorf("release %s: mark released: %w", id, err)
	}
	err = restoreFile(blob, rec.OriginalPath, rec.UID, rec.GID, rec.Mode)
	blob.Close()
	if err != nil {
		return Record{}, fmt.Errorf("release %s: %w", id, err)
	}
	if err := os.Remove(q.recordPath(id)); err != nil {
		return rec, fmt.Errorf("release %s: remove record: %w", id, err)
	}
	if !q.blobInUse(rec.SHA256) {
		os.Remove(q.blobPath(rec.SHA256))
	}
	return rec, nil
}

// Released reports whether staff released content with this SHA-256 before;
// the guard lets such content stay wherever it appears.
func (q *Quarantine) Released(sha string) bool {
	if !isHex(sha, 64) {
		return false
	}
	_, err := os.Lstat(filepath.Join(q.dir, "released", sha))
	return err == nil
}

// blobInUse reports whether any record still refers to sha. Called with mu held.
func (q *Quarantine) blobInUse(sha string) bool {
	recs, _ := q.List()
	for _, r := range recs {
		if r.SHA256 == sha {
			return true
		}
	}
	return false
}

// ReleaseHandler is the handler for protocol.ActionReleaseQuarantine: it
// releases the record args[protocol.ArgQuarantineID] names and reports
// quarantine.released to sink.
func (q *Quarantine) ReleaseHandler(sink EventSink) protocol.CommandHandler {
	return func(ctx context.Context, args map[string]string) (string, error) {
		id := args[protocol.ArgQuarantineID]
		if id == "" {
			return "", fmt.Errorf("release-quarantine: missing argument %s", protocol.ArgQuarantineID)
		}
		rec, err := q.Release(id)
		if err != nil {
			return "", err
		}
		ev := protocol.QuarantineReleased{ID: rec.ID, Name: filepath.Base(rec.OriginalPath), SHA256: rec.SHA256}
		if err := sink.Emit(protocol.EventQuarantineReleased, protocol.SeverityInfo, ev.Data()); err != nil {
			return "", fmt.Errorf("released %s, but report it: %w", id, err)
		}
		return "released " + ev.Name, nil
	}
}

// EventSink receives the guard's events for the hub.
type EventSink interface {
	// Emit records one event durably for the hub. data values are short plain text.
	Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
