package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// LockFileName is the lock state file inside the agent's state directory.
const LockFileName = "session-lock.json"

// maxLockFile bounds the lock state file; anything larger is not ours. It is
// far above the largest file Save writes (256+256 names of 64 bytes, each byte
// escaped at most 6-fold, plus a 2 KiB reason).
const maxLockFile = 1 << 20

// LockState is what must survive logoff, logon and reboot: whether staff locked
// the seat, whether the last wipe left it dirty, and which patron accounts the
// agent has held, so that a restart can release or re-hold them.
type LockState struct {
	V       int       `json:"v"`
	Locked  bool      `json:"locked"`
	Changed time.Time `json:"changed,omitzero"`
	// Dirty is why the last wipe was not clean; empty when it was.
	Dirty string `json:"dirty,omitempty"`
	// CleanAt is when the last wipe was verified clean (zero after a dirty
	// one): the sign-in screen tells the next patron.
	CleanAt time.Time `json:"clean_at,omitzero"`
	// Patrons are the patron accounts seen on this PC (names stay in the state
	// directory, which only the service can read; they are never sent).
	Patrons []string `json:"patrons,omitempty"`
	// Pending are patron accounts whose wipe has not finished; a restart wipes
	// them before letting anyone log on.
	Pending []string `json:"pending,omitempty"`
}

const lockStateVersion = 1

var errLockState = errors.New("lock state file is invalid")

// decodeLockState parses the lock state file strictly: unknown fields, another
// version, trailing data or oversized fields are refused.
func decodeLockState(b []byte) (LockState, error) {
	var s LockState
	if len(b) > maxLockFile {
		return s, fmt.Errorf("%w: larger than %d bytes", errLockState, maxLockFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return LockState{}, fmt.Errorf("%w: %v", errLockState, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return LockState{}, fmt.Errorf("%w: trailing data", errLockState)
	}
	if s.V != lockStateVersion {
		return LockState{}, fmt.Errorf("%w: version %d", errLockState, s.V)
	}
	if len(s.Dirty) > 2048 || !utf8.ValidString(s.Dirty) {
		return LockState{}, fmt.Errorf("%w: dirty reason", errLockState)
	}
	if len(s.Patrons) > 256 || len(s.Pending) > 256 {
		return LockState{}, fmt.Errorf("%w: too many patrons", errLockState)
	}
	for _, p := range append(s.Patrons[:len(s.Patrons):len(s.Patrons)], s.Pending...) {
		if p == "" || len(p) > 64 || !utf8.ValidString(p) {
			return LockState{}, fmt.Errorf("%w: patron name", errLockState)
		}
	}
	return s, nil
}

// LockStore keeps the LockState in a file. It is not safe for concurrent use;
// the Manager serialises its calls.
type LockStore struct {
	path string
}

// NewLockStore keeps the state in dir/LockFileName. dir is the agent's state
// directory, which the agent has already checked is readable by the service only.
func NewLockStore(dir string) *LockStore {
	return &LockStore{path: filepath.Join(dir, LockFileName)}
}

// Load reads the state. A missing file is the zero state (unlocked, clean). A
// file that cannot be read or decoded fails closed: it is reported as locked and
// dirty, with the error, so staff see it and a wipe-now or unlock rewrites it.
func (s *LockStore) Load() (LockState, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return LockState{V: lockStateVersion}, nil
	}
	if err == nil {
		var st LockState
		if st, err = decodeLockState(b); err == nil {
			return st, nil
		}
	}
	return LockState{V: lockStateVersion, Locked: true, Dirty: "lock state unreadable"}, fmt.Errorf("load lock state: %w", err)
}

// Save writes the state atomically (temporary file, fsync, rename, fsync dir).
func (s *LockStore) Save(st LockState) error {
	st.V = lockStateVersion
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save lock state: %w", err)
	}
	if err := atomicfile.WriteFile(s.path, b, 0o600); err != nil {
		return fmt.Errorf("save lock state: %w", err)
	}
	return nil
}
