package wipe

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// holdFiles keeps, per held account, what the account was like before the
// first Hold (hold-USER.json in dir, fsync'd before the account is touched), so
// that Release restores it exactly and a crash never loses it. Both logon gates
// (account expiry on Linux, account disable on Windows) use it.
type holdFiles struct{ dir string }

func (h holdFiles) path(user string) string { return filepath.Join(h.dir, "hold-"+user+".json") }

// saveFirst saves the state prev returns, unless a hold of user is already
// saved: the state from before the first Hold is the one to restore.
// state must marshal with a "user" field naming user.
func (h holdFiles) saveFirst(user string, prev func() (any, error)) error {
	_, err := os.Stat(h.path(user))
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read gate state: %w", err)
	}
	st, err := prev()
	if err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return fmt.Errorf("create gate dir: %w", err)
	}
	if err := atomicfile.WriteFile(h.path(user), b, 0o600); err != nil {
		return fmt.Errorf("save account state: %w", err)
	}
	return nil
}

// load reads user's saved state into st; found is false when this gate does
// not hold user. A state that does not parse or names another user is an
// error: logons stay held.
func (h holdFiles) load(user string, st any) (found bool, err error) {
	b, err := os.ReadFile(h.path(user))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read gate state: %w", err)
	}
	var who struct {
		User string `json:"user"`
	}
	if json.Unmarshal(b, &who) != nil || who.User != user || json.Unmarshal(b, st) != nil {
		return false, fmt.Errorf("gate state of %s is corrupt; logons stay held", user)
	}
	return true, nil
}

// drop forgets user's hold, durably.
func (h holdFiles) drop(user string) error {
	if err := os.Remove(h.path(user)); err != nil {
		return fmt.Errorf("remove gate state: %w", err)
	}
	return atomicfile.SyncDir(h.dir)
}

// held reports whether a hold of user is saved.
func (h holdFiles) held(user string) bool {
	_, err := os.Stat(h.path(user))
	return err == nil
}
