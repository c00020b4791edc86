package wipe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// NoPatronGroup as Config.PatronGroup says that no group makes an account a
// patron (an empty PatronGroup takes the default group instead). No group has
// this name: it is not a valid name on any OS.
const NoPatronGroup = "\x00none"

// checkAccount refuses accounts that are not patrons by policy.
func (e *Engine) checkAccount(a Account) error {
	if a.UID < e.cfg.MinUID {
		return refuse("account %s has uid %d, below min_uid %d (a system account)", strconv.Quote(a.Name), a.UID, e.cfg.MinUID)
	}
	if slices.Contains(e.cfg.StaffUsers, a.Name) {
		return refuse("account %s is a staff account (staff_users)", strconv.Quote(a.Name))
	}
	if slices.Contains(e.cfg.PatronUsers, a.Name) {
		return nil
	}
	if e.cfg.PatronGroup == NoPatronGroup {
		return refuse("account %s is not a patron (not in patron_users; no patron group)", strconv.Quote(a.Name))
	}
	if slices.Contains(a.Groups, e.cfg.PatronGroup) {
		return nil
	}
	return refuse("account %s is not a patron (not in patron_users nor in group %s)", strconv.Quote(a.Name), strconv.Quote(e.cfg.PatronGroup))
}

// within reports whether p is dir or inside it (both clean).
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(p, dir)
}

// checkHome refuses a home that is not safe to wipe: not a clean absolute path
// without symlinks, "/" or a top-level directory, a system directory or one
// inside it, the agent's own directories or anything above them, not a
// directory, not owned by the patron, or below a directory a non-root user owns.
func (e *Engine) checkHome(home string, a Account) error {
	if err := e.checkHomePath(home); err != nil {
		return err
	}
	q := strconv.Quote(home)
	info, err := os.Lstat(home)
	if err != nil {
		return refuse("home %s: %v", q, err)
	}
	if !info.IsDir() {
		return refuse("home %s is not a directory", q)
	}
	if uid, _, ok := fileOwner(info); ok && uid != a.UID {
		return refuse("home %s is owned by uid %d, not by the patron %s (uid %d)", q, uid, strconv.Quote(a.Name), a.UID)
	}
	return nil
}

// checkHomePath checks where a home is, not what it holds: see checkHome. It is
// checked again before the home is renamed by a resumed wipe.
func (e *Engine) checkHomePath(home string) error {
	q := strconv.Quote(home)
	if !cleanAbs(home) {
		return refuse("home %s is not a clean absolute path", q)
	}
	if isVolumeRoot(home) || filepath.Dir(home) == home {
		return refuse("home %s is a filesystem root", q)
	}
	if isVolumeRoot(filepath.Dir(home)) {
		return refuse("home %s is a top-level directory", q)
	}
	real, err := filepath.EvalSymlinks(home)
	if err != nil {
		return refuse("home %s: %v", q, err)
	}
	if real != home {
		return refuse("home %s resolves through a symlink to %s", q, strconv.Quote(real))
	}
	for _, d := range systemDirs {
		if within(home, d) {
			return refuse("home %s is (inside) the system directory %s", q, strconv.Quote(d))
		}
	}
	for _, d := range systemExact {
		if home == d {
			return refuse("home %s is a shared system directory", q)
		}
	}
	for _, d := range e.ownDirs() {
		if within(home, d) || within(d, home) {
			return refuse("home %s contains or is inside the agent's directory %s", q, strconv.Quote(d))
		}
	}
	for d := filepath.Dir(home); ; d = filepath.Dir(d) {
		info, err := os.Lstat(d)
		if err != nil {
			return refuse("parent %s of home: %v", strconv.Quote(d), err)
		}
		if uid, _, ok := fileOwner(info); ok && uid != 0 {
			return refuse("parent %s of home is owned by uid %d, not root: it could be swapped during the wipe", strconv.Quote(d), uid)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return nil
}

// ownDirs are the agent's directories that no scope may touch.
func (e *Engine) ownDirs() []string {
	return append([]string{e.cfg.TemplateDir, e.cfg.JournalDir}, e.cfg.ProtectedDirs...)
}

// checkTrash refuses a trash directory inside the home, or a home inside it.
func (e *Engine) checkTrash(trashRoot, home string) error {
	if within(trashRoot, home) || within(home, trashRoot) {
		return refuse("trash %s and home %s overlap", strconv.Quote(trashRoot), strconv.Quote(home))
	}
	for _, d := range e.ownDirs() {
		if within(d, trashRoot) {
			return refuse("trash %s overlaps the agent's directory %s", strconv.Quote(trashRoot), strconv.Quote(d))
		}
	}
	return nil
}

// ensureTrash creates the trash root (0700) if needed and checks it.
func ensureTrash(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create trash: %w", err)
	}
	if err := checkRootDir(dir); err != nil {
		return err
	}
	return restrictDir(dir)
}

// checkRootDir insists that dir is a real directory (not a symlink), owned by
// root where the OS has owners, and closed to group and others.
func checkRootDir(dir string) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", strconv.Quote(dir), err)
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", strconv.Quote(dir))
	}
	if uid, _, ok := fileOwner(info); ok {
		if uid != 0 {
			return fmt.Errorf("%s is owned by uid %d, not root", strconv.Quote(dir), uid)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("%s has mode %v; it must be 0700", strconv.Quote(dir), info.Mode().Perm())
		}
	}
	return nil
}

// ownerOfPath returns the owner of path without following a final symlink.
func ownerOfPath(path string) (uid, gid int, ok bool, err error) {
	info, err := os.Lstat(path)
	if err != nil {
		return 0, 0, false, err
	}
	uid, gid, ok = fileOwner(info)
	return uid, gid, ok, nil
}
