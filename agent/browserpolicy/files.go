package browserpolicy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// backupSuffix names the copy of another tool's file that a take-over keeps.
const backupSuffix = ".pre-carrel"

// fileTarget is one policy file.
type fileTarget struct {
	browser string
	path    string
	content []byte
	// inspect is set for a file the browser reads alone (Firefox's
	// policies.json, a macOS plist): it reports whether existing bytes are
	// Carrel's. Nil for a file name only Carrel uses (carrel.json).
	inspect func([]byte) (bool, error)
	// takeOver allows replacing such a file written by someone else; setting
	// names the Config key that allows it, for the refusal message.
	takeOver bool
	setting  string
	// owned remembers exclusive files this process wrote (the Manager's map,
	// guarded by its mutex), so an edit that strips the marker is still reverted.
	owned map[string]bool
}

var _ target = (*fileTarget)(nil)

func (t *fileTarget) Browser() string  { return t.browser }
func (t *fileTarget) Location() string { return t.path }

// Ensure makes the file hold exactly t.content, mode 0644, owned by the agent's
// user. It reports whether it had to write.
func (t *fileTarget) Ensure() (bool, error) {
	fi, err := os.Lstat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t.write()
	}
	if err != nil {
		return false, fmt.Errorf("check %s policy: %w", t.browser, err)
	}
	var data []byte
	if fi.Mode().IsRegular() {
		data, err = readLimited(t.path)
		if errors.Is(err, fs.ErrNotExist) {
			return t.write() // deleted since the Lstat
		}
		if err != nil {
			return false, fmt.Errorf("check %s policy: %w", t.browser, err)
		}
		if bytes.Equal(data, t.content) && fileModeOK(fi) {
			return false, nil
		}
	}
	if t.inspect == nil || t.owned[t.path] {
		return t.write()
	}
	if fi.Mode().IsRegular() {
		if ours, _ := t.inspect(data); ours {
			return t.write()
		}
	}
	// Another tool's file (or a symlink or directory in its place).
	if !t.takeOver {
		return false, fmt.Errorf("%w: %s (set %s to replace it)", ErrForeignPolicy, t.path, t.setting)
	}
	if err := os.Rename(t.path, t.path+backupSuffix); err != nil {
		return false, fmt.Errorf("keep other %s policy: %w", t.browser, err)
	}
	return t.write()
}

// Check reads the file back: it must be a regular file holding exactly
// t.content with the mode and owner Ensure gives it.
func (t *fileTarget) Check() error {
	fi, err := os.Lstat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is missing", t.path)
	}
	if err != nil {
		return fmt.Errorf("read back %s policy: %w", t.browser, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s)", t.path, fi.Mode().Type())
	}
	data, err := readLimited(t.path)
	if err != nil {
		return fmt.Errorf("read back %s policy: %w", t.browser, err)
	}
	if !bytes.Equal(data, t.content) {
		return fmt.Errorf("%s does not hold Carrel's policy", t.path)
	}
	if !fileModeOK(fi) {
		return fmt.Errorf("%s has mode %v or an owner other than the service", t.path, fi.Mode().Perm())
	}
	return nil
}

func (t *fileTarget) write() (bool, error) {
	if err := writeAtomic(t.path, t.content); err != nil {
		return false, fmt.Errorf("write %s policy: %w", t.browser, err)
	}
	if t.inspect != nil {
		t.owned[t.path] = true
	}
	return true, nil
}

// Remove deletes the file if it is Carrel's and puts back a file a take-over
// kept aside. Another tool's file is left alone, and so are directories.
func (t *fileTarget) Remove() error {
	touched := false
	fi, err := os.Lstat(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("remove %s policy: %w", t.browser, err)
	default:
		ours := t.inspect == nil || t.owned[t.path]
		if !ours && fi.Mode().IsRegular() {
			data, err := readLimited(t.path)
			if err != nil {
				return fmt.Errorf("remove %s policy: %w", t.browser, err)
			}
			ours, _ = t.inspect(data)
		}
		if !ours {
			return nil
		}
		if err := os.Remove(t.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s policy: %w", t.browser, err)
		}
		delete(t.owned, t.path)
		touched = true
	}
	if t.inspect != nil {
		// Put back the file a take-over kept, unless something new sits there.
		if _, err := os.Lstat(t.path + backupSuffix); err == nil {
			if _, err := os.Lstat(t.path); errors.Is(err, fs.ErrNotExist) {
				if err := os.Rename(t.path+backupSuffix, t.path); err != nil {
					return fmt.Errorf("restore other %s policy: %w", t.browser, err)
				}
				touched = true
			}
		}
	}
	if !touched {
		return nil
	}
	if err := atomicfile.SyncDir(filepath.Dir(t.path)); err != nil {
		return fmt.Errorf("remove %s policy: %w", t.browser, err)
	}
	return nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
}

// writeAtomic replaces path with data through internal/atomicfile, mode 0644
// and owner root (when running as root). A reader sees the old file or the
// new one, never a part.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := hardenDir(dir); err != nil {
		return err
	}
	f, err := atomicfile.New(path, 0o644)
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := chownRoot(f.File); err != nil {
		return err
	}
	return f.Commit()
}
