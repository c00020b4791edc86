// Package atomicfile replaces files so that a reader, or the next boot after a
// power cut, sees the old content or the new, never a part: a temporary file in
// the same directory is written, flushed, renamed over the target, and the
// rename itself made durable. It is the one place Carrel does this (modeled on
// github.com/google/renameio, which has no Windows support).
//
// Durability of the rename: on Unix the directory is fsynced after it; on
// Windows a directory cannot be flushed (FlushFileBuffers needs write access
// that a directory handle from os.Open lacks), so the rename is done with
// MoveFileEx(MOVEFILE_REPLACE_EXISTING|MOVEFILE_WRITE_THROUGH), which returns
// once it is on the disk.
//
// Permissions: the file gets perm exactly (not masked by the umask) on Unix;
// on Windows it inherits its directory's DACL and perm is not applied (a
// missing write bit would make the file read-only and the next replace fail).
//
// It is not for appending (the outbox's segments, the wipe's journal) or for
// moving whole directories.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile replaces path with data, durably, with mode perm. path's directory
// must exist.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	f, err := New(path, perm)
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return f.Commit()
}

// File is a pending replacement of a path: write to it, then Commit. Cleanup
// (deferred right after New) removes the temporary file unless it was
// committed.
type File struct {
	*os.File
	path string
	done bool
}

// New creates the temporary file for replacing path, in path's directory, with
// mode perm (see the package doc for Windows). Its name starts with a dot and
// ends in ".tmp-" and a random suffix.
func New(path string, perm fs.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
	}
	return &File{File: f, path: path}, nil
}

// Commit flushes the file, closes it and renames it over the target, durably.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: already committed")
	}
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := Rename(f.Name(), f.path); err != nil {
		os.Remove(f.Name())
		return err
	}
	f.done = true
	return nil
}

// Cleanup removes the temporary file if Commit did not rename it. It is safe
// to call more than once and after Commit.
func (f *File) Cleanup() error {
	if f.done {
		return nil
	}
	f.done = true
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Rename renames from over to (replacing it) and returns once the rename is
// durable: on Unix the directory of to is fsynced after it (and that of from
// when it is another one); on Windows the move is written through.
func Rename(from, to string) error {
	if err := rename(from, to); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(to)); err != nil {
		return err
	}
	if d := filepath.Dir(from); filepath.Clean(d) != filepath.Clean(filepath.Dir(to)) {
		return SyncDir(d)
	}
	return nil
}

// SyncDir makes the creations, renames and removals of entries in dir durable
// (fsync of the directory). On Windows it does nothing: see the package doc.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
