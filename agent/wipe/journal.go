package wipe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// Journal steps, in the order a wipe writes them. A step's record is written
// (and fsync'd) after the step's action is done.
const (
	stepBegin     = "begin"     // scope resolved and checked
	stepHeld      = "held"      // logons of the account are held
	stepKilled    = "killed"    // no process of the uid is left
	stepMoved     = "moved"     // home renamed into the trash (swap mode)
	stepEmptied   = "emptied"   // home emptied in place (in-place mode)
	stepRecreated = "recreated" // home rebuilt from the template
	stepTemp      = "temp"      // shared temp and spool dirs cleared
	stepVerified  = "verified"  // home equals the template, no file of the uid left
	stepDirty     = "dirty"     // verification failed; logons stay held
	stepReleased  = "released"  // logons allowed again: the station is ready
	stepPurged    = "purged"    // trash removed (Clean says whether all of it)
)

// Wipe modes.
const (
	ModeSwap    = "swap"
	ModeInPlace = "in-place"
)

var stepOrder = map[string]int{stepBegin: 0, stepHeld: 1, stepKilled: 2, stepMoved: 3, stepEmptied: 3,
	stepRecreated: 4, stepTemp: 5, stepVerified: 6, stepDirty: 6, stepReleased: 7, stepPurged: 8}

// journalExt names journal files inside Config.JournalDir.
const journalExt = ".wipe-journal"

// maxJournalBytes bounds what readJournal accepts.
const maxJournalBytes = 1 << 20

// record is one journal line.
type record struct {
	Step string    `json:"step"`
	Time time.Time `json:"time"`
	// begin only
	ID       string `json:"id,omitempty"`
	User     string `json:"user,omitempty"`
	UID      int    `json:"uid,omitempty"`
	GID      int    `json:"gid,omitempty"`
	Home     string `json:"home,omitempty"`
	Trash    string `json:"trash,omitempty"` // this wipe's own directory in the trash
	Template string `json:"template,omitempty"`
	// moved, emptied: the mode; moved: the name inside Trash the home got.
	Mode  string `json:"mode,omitempty"`
	Aside string `json:"aside,omitempty"`
	// dirty, purged: how many leftovers, and the first reason.
	Leftovers int    `json:"leftovers,omitempty"`
	Why       string `json:"why,omitempty"`
	// Files, Bytes removed (purged); MsReady (released).
	Files   int64 `json:"files,omitempty"`
	Bytes   int64 `json:"bytes,omitempty"`
	MsReady int64 `json:"ms_ready,omitempty"`
}

// journalState is what a journal says about one wipe.
type journalState struct {
	Begin   record
	Last    record
	Records []record
	// Attempt counts dirty records: each retry moves the home aside under a new name.
	Attempt int
}

var errJournal = errors.New("invalid wipe journal")

// errEmptyJournal: the agent stopped before the begin record was complete, so the
// wipe never touched anything and its journal can be dropped.
var errEmptyJournal = fmt.Errorf("%w: no complete record", errJournal)

// readJournal parses a journal. A last line without its newline is a record torn
// by a crash and is ignored; any other malformed line, an unknown step, a step out
// of order or a begin record with an unsafe scope is an error.
func readJournal(data []byte) (*journalState, error) {
	if len(data) > maxJournalBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", errJournal, maxJournalBytes)
	}
	if i := bytes.LastIndexByte(data, '\n'); i != len(data)-1 {
		data = data[:i+1] // torn tail
	}
	st := &journalState{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxJournalBytes)
	for n := 1; sc.Scan(); n++ {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var r record
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", errJournal, n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: line %d: trailing data", errJournal, n)
		}
		order, ok := stepOrder[r.Step]
		if !ok {
			return nil, fmt.Errorf("%w: line %d: unknown step %q", errJournal, n, r.Step)
		}
		if n == 1 {
			if r.Step != stepBegin {
				return nil, fmt.Errorf("%w: first record is %q, not begin", errJournal, r.Step)
			}
			if err := r.checkBegin(); err != nil {
				return nil, fmt.Errorf("%w: %v", errJournal, err)
			}
			st.Begin = r
		} else {
			prev := stepOrder[st.Last.Step]
			switch {
			case r.Step == stepBegin:
				return nil, fmt.Errorf("%w: line %d: second begin", errJournal, n)
			case st.Last.Step == stepDirty && order <= stepOrder[stepKilled]:
				// a retry after a dirty verification starts again at the kill step
			case order < prev || (order == prev && r.Step != stepPurged):
				return nil, fmt.Errorf("%w: line %d: step %q after %q", errJournal, n, r.Step, st.Last.Step)
			}
			if r.Step == stepMoved && (r.Aside == "" || strings.ContainsAny(r.Aside, `/\`) || r.Aside == "." || r.Aside == "..") {
				return nil, fmt.Errorf("%w: line %d: bad aside name", errJournal, n)
			}
			if r.Step == stepDirty {
				st.Attempt++
			}
		}
		st.Last = r
		st.Records = append(st.Records, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", errJournal, err)
	}
	if len(st.Records) == 0 {
		return nil, errEmptyJournal
	}
	return st, nil
}

func (r *record) checkBegin() error {
	switch {
	case !validID(r.ID):
		return fmt.Errorf("bad wipe id %q", r.ID)
	case r.User == "" || len(r.User) > 64 || strings.ContainsAny(r.User, "/\\:\x00\n"):
		return fmt.Errorf("bad user name")
	case r.UID <= 0 || r.GID < 0:
		return fmt.Errorf("bad uid or gid")
	case !cleanAbs(r.Home) || !cleanAbs(r.Trash) || !cleanAbs(r.Template):
		return fmt.Errorf("home, trash and template must be clean absolute paths")
	case filepath.Base(r.Trash) != r.ID:
		return fmt.Errorf("trash directory is not named for the wipe")
	}
	return nil
}

func cleanAbs(p string) bool {
	return p != "" && filepath.IsAbs(p) && filepath.Clean(p) == p && !strings.ContainsRune(p, 0)
}

// validID accepts the ids newID makes: [0-9A-Za-z-], 1..64 bytes.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// journal appends records to one wipe's journal file.
type journal struct {
	path string
	f    *os.File
}

func createJournal(dir, id string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal dir: %w", err)
	}
	p := filepath.Join(dir, id+journalExt)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync journal dir: %w", err)
	}
	return &journal{path: p, f: f}, nil
}

// openJournal reopens a journal to continue it; a record torn by a crash is cut
// off first so the next record starts on its own line.
func openJournal(p string) (*journal, error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	data, err := os.ReadFile(p)
	if err == nil {
		if keep := int64(bytes.LastIndexByte(data, '\n') + 1); keep != int64(len(data)) {
			if err = f.Truncate(keep); err == nil {
				err = f.Sync()
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cut torn journal record: %w", err)
	}
	return &journal{path: p, f: f}, nil
}

// append writes one record and fsyncs it.
func (j *journal) append(r record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode journal record: %w", err)
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// remove deletes a finished journal.
func (j *journal) remove() error {
	j.f.Close()
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(j.path))
}
