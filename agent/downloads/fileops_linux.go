//go:build linux

package downloads

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// heldFile is a patron file opened once, without following links, and kept
// open from classification to the move, so that what is judged is what is moved.
// On Linux the parent directory is opened with openat2(RESOLVE_NO_SYMLINKS), so
// no component of the path may be a symbolic link, and every later operation is
// relative to that directory descriptor.
type heldFile struct {
	f    *os.File
	dir  int // parent directory
	name string
	path string
	st   unix.Stat_t
}

// errNotRegular: the path is not a regular file (a link, a directory, a FIFO...).
var errNotRegular = errors.New("not a regular file")

// errChanged: the file at the path is no longer the one that was judged.
var errChanged = errors.New("file was replaced while it was judged")

// openDirNoFollow opens dir refusing symbolic links in every component.
func openDirNoFollow(dir string) (int, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		// Kernels before 5.6: only the last component is checked.
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, fmt.Errorf("open directory %s: %w", dir, err)
	}
	return fd, nil
}

func holdFile(path string) (*heldFile, error) {
	dir, name := filepath.Split(path)
	dfd, err := openDirNoFollow(filepath.Clean(dir))
	if err != nil {
		return nil, err
	}
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Openat(dfd, name, flags|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) { // O_NOATIME needs ownership or CAP_FOWNER
		fd, err = unix.Openat(dfd, name, flags, 0)
	}
	if err != nil {
		unix.Close(dfd)
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("open %s: %w", path, errNotRegular)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	h := &heldFile{f: os.NewFile(uintptr(fd), path), dir: dfd, name: name, path: path}
	if err := unix.Fstat(fd, &h.st); err != nil {
		h.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if h.st.Mode&unix.S_IFMT != unix.S_IFREG {
		h.Close()
		return nil, fmt.Errorf("open %s: %w", path, errNotRegular)
	}
	// A read lease is granted only while nobody has the file open for writing,
	// and while it is held an open for writing waits: the content cannot change
	// between judgement and move. A file still being written is left for its
	// close-write event. (Filesystems without leases go on without them.)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); errors.Is(err, unix.EAGAIN) {
		h.Close()
		return nil, fmt.Errorf("open %s: %w", path, errBusy)
	}
	return h, nil
}

// Close releases the file (and its lease) and the directory.
func (h *heldFile) Close() {
	h.f.Close()
	unix.Close(h.dir)
}

// judgePath is a path the classifier can open that names the held file itself,
// not whatever is at the original path by then.
func (h *heldFile) judgePath() string {
	return "/proc/self/fd/" + strconv.Itoa(int(h.f.Fd()))
}

func (h *heldFile) meta() (size int64, uid, gid int, mode uint32) {
	return h.st.Size, int(h.st.Uid), int(h.st.Gid), h.st.Mode & 0o777
}

// same reports whether the name in dir (not followed) is the held file.
func (h *heldFile) same(dir int, name string) bool {
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false
	}
	return st.Dev == h.st.Dev && st.Ino == h.st.Ino
}

// moveInto renames the held file into dstDir/dstName. It returns errCrossDevice
// when the two are on different filesystems (the caller copies instead), and
// errChanged, after putting things back, if what was renamed was not the held file.
func (h *heldFile) moveInto(dstDir, dstName string) error {
	dfd, err := unix.Open(dstDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dstDir, err)
	}
	defer unix.Close(dfd)
	if err := unix.Renameat2(h.dir, h.name, dfd, dstName, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.EXDEV) {
			return errCrossDevice
		}
		return fmt.Errorf("rename %s into quarantine: %w", h.path, err)
	}
	if !h.same(dfd, dstName) {
		if err := unix.Renameat2(dfd, dstName, h.dir, h.name, unix.RENAME_NOREPLACE); err != nil {
			return fmt.Errorf("put back replaced file %s: %w", h.path, err)
		}
		return fmt.Errorf("move %s: %w", h.path, errChanged)
	}
	// The inode now belongs to the quarantine: make it the service's own, unless
	// another name (a hard link the patron kept) still reaches it.
	var st unix.Stat_t
	if err := unix.Fstat(int(h.f.Fd()), &st); err == nil && st.Nlink == 1 {
		unix.Fchown(int(h.f.Fd()), os.Geteuid(), os.Getegid())
		unix.Fchmod(int(h.f.Fd()), 0o600)
	}
	return nil
}

// removeOriginal unlinks the original name if it still is the held file.
func (h *heldFile) removeOriginal() error {
	if !h.same(h.dir, h.name) {
		return fmt.Errorf("remove %s: %w", h.path, errChanged)
	}
	if err := unix.Unlinkat(h.dir, h.name, 0); err != nil {
		return fmt.Errorf("remove %s: %w", h.path, err)
	}
	return unix.Fsync(h.dir)
}

// reader returns the held file's content from the start.
func (h *heldFile) reader() (io.Reader, error) {
	if _, err := h.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return h.f, nil
}

// restoreFile writes src to path as a new file owned by uid:gid with mode,
// refusing to replace anything already there and to follow links on the way.
func restoreFile(src io.Reader, path string, uid, gid int, mode uint32) error {
	dir, name := filepath.Split(path)
	dfd, err := openDirNoFollow(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Fstatat(dfd, name, new(unix.Stat_t), unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return fmt.Errorf("restore %s: %w", path, os.ErrExist)
	}
	tmp := ".carrel-restore-" + randomID()
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Join(dir, tmp), err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	ok := false
	defer func() {
		f.Close()
		if !ok {
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	if _, err := io.Copy(f, src); err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if uid >= 0 || gid >= 0 {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("restore owner of %s: %w", path, err)
		}
	}
	if err := unix.Fchmod(fd, mode&0o777); err != nil {
		return fmt.Errorf("restore mode of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if err := unix.Renameat2(dfd, tmp, dfd, name, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("restore %s: %w", path, os.ErrExist)
		}
		return fmt.Errorf("restore %s: %w", path, err)
	}
	ok = true
	return unix.Fsync(dfd)
}

// checkPrivateDir refuses a quarantine directory another user could read.
func checkPrivateDir(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("quarantine %s: no owner information", path)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("quarantine %s: owned by uid %d, not by the service: %w", path, st.Uid, errWeakDir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("quarantine %s: mode %v is readable by others: %w", path, fi.Mode().Perm(), errWeakDir)
	}
	return nil
}

// makePrivateDir creates dir readable by the service only.
func makePrivateDir(path string) error {
	return os.Mkdir(path, 0o700)
}
