//go:build !linux

package downloads

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// heldFile is a patron file opened once and kept open from classification to
// the move. Without Linux's directory-relative calls, the path is re-checked
// against the open file (os.SameFile) before and after each step; a link swapped
// into a parent directory between checks is not caught (2026-11).
type heldFile struct {
	f    *os.File
	fi   os.FileInfo
	path string
}

// errNotRegular: the path is not a regular file (a link, a directory, a FIFO...).
var errNotRegular = errors.New("not a regular file")

// errChanged: the file at the path is no longer the one that was judged.
var errChanged = errors.New("file was replaced while it was judged")

func holdFile(path string) (*heldFile, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: %w", path, errNotRegular)
	}
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(fi, lfi) || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, errChanged)
	}
	return &heldFile{f: f, fi: fi, path: path}, nil
}

func (h *heldFile) Close() { h.f.Close() }

// judgePath is the path the classifier opens; re-checked by the move.
func (h *heldFile) judgePath() string { return h.path }

func (h *heldFile) meta() (size int64, uid, gid int, mode uint32) {
	uid, gid = fileOwner(h.fi)
	return h.fi.Size(), uid, gid, uint32(h.fi.Mode().Perm())
}

func (h *heldFile) sameAt(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, h.fi)
}

func (h *heldFile) moveInto(dstDir, dstName string) error {
	if !h.sameAt(h.path) {
		return fmt.Errorf("move %s: %w", h.path, errChanged)
	}
	dst := filepath.Join(dstDir, dstName)
	if !sameVolume(h.path, dstDir) {
		return errCrossDevice
	}
	if err := os.Rename(h.path, dst); err != nil {
		return fmt.Errorf("rename %s into quarantine: %w", h.path, err)
	}
	if !h.sameAt(dst) {
		if err := os.Rename(dst, h.path); err != nil {
			return fmt.Errorf("put back replaced file %s: %w", h.path, err)
		}
		return fmt.Errorf("move %s: %w", h.path, errChanged)
	}
	return nil
}

func (h *heldFile) removeOriginal() error {
	if !h.sameAt(h.path) {
		return fmt.Errorf("remove %s: %w", h.path, errChanged)
	}
	// The held handle must go first where open files cannot be deleted.
	h.f.Close()
	if err := os.Remove(h.path); err != nil {
		return fmt.Errorf("remove %s: %w", h.path, err)
	}
	return nil
}

func (h *heldFile) reader() (io.Reader, error) {
	if _, err := h.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return h.f, nil
}

// restoreFile writes src to path as a new file, refusing to replace anything.
// The last step is a hard link, which fails if the name exists.
func restoreFile(src io.Reader, path string, uid, gid int, mode uint32) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("restore %s: %w", path, os.ErrExist)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("restore %s: parent is not a plain directory", path)
	}
	tmp := filepath.Join(dir, ".carrel-restore-"+randomID())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	defer os.Remove(tmp)
	_, err = io.Copy(f, src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = chownFile(tmp, uid, gid)
	}
	if err == nil {
		err = os.Chmod(tmp, os.FileMode(mode&0o777))
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if err != nil {
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("restore %s: %w", path, os.ErrExist)
		}
		return fmt.Errorf("restore %s: %w", path, err)
	}
	return nil
}
