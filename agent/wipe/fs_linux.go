//go:build linux

package wipe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"golang.org/x/sys/unix"
)

var defaults = osDefaults{
	template:  "/var/lib/carrel/template",
	journal:   "/var/lib/carrel/wipe",
	temp:      []string{"/tmp", "/var/tmp", "/dev/shm"},
	spool:     []string{"/var/spool/cups"},
	protected: []string{"/var/lib/carrel", "/etc/carrel"},
}

// systemDirs may never be a home nor hold one.
var systemDirs = []string{"/bin", "/boot", "/dev", "/efi", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
	"/lost+found", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/usr", "/var"}

// systemExact may hold homes but are never one.
var systemExact = []string{"/home", "/tmp", "/mnt", "/media"}

func isVolumeRoot(p string) bool { return p == "/" }

func fileOwner(info fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

var errNotSameFS = errors.New("home cannot be renamed into the trash")

// renameAside renames from to to (which must not exist). A rename the kernel
// refuses because from is a mount point or to is on another filesystem is
// reported as errNotSameFS.
func renameAside(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if _, lerr := os.Lstat(to); lerr == nil {
			return fmt.Errorf("rename home aside: %s exists", strconv.Quote(to))
		}
		err = unix.Rename(from, to)
	}
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("rename home aside: %w: %v", errNotSameFS, err)
	}
	if err != nil {
		return fmt.Errorf("rename home aside: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(to)); err != nil {
		return fmt.Errorf("sync trash: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(from))
}

// openDirPath opens an absolute directory path refusing every symlink on the
// way (openat2 RESOLVE_NO_SYMLINKS; O_NOFOLLOW on the last component on kernels
// before 5.6).
func openDirPath(p string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(unix.AT_FDCWD, p, how)
	if errors.Is(err, unix.ENOSYS) {
		fd, err = unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	return fd, err
}

func mountID(fd int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, fmt.Errorf("statx: %w", err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errors.New("statx: kernel does not report mount ids (needs Linux 5.8)")
	}
	return stx.Mnt_id, nil
}

// fdWindow bounds the directory descriptors one purge keeps open besides one
// checkpoint every checkpointEvery levels: deeper ancestors are closed and later
// reopened by name from the nearest open one, checked by device and inode. A tree
// of depth d needs about fdWindow + d/checkpointEvery descriptors, and reopening
// costs at most checkpointEvery opens.
const (
	fdWindow        = 128
	checkpointEvery = 64
)

type frame struct {
	fd        int // -1 while closed to save descriptors
	name      string
	dev, ino  uint64
	uid       uint32
	mode      uint32
	names     []string
	listed    bool
	tries     int
	keep      bool // never remove this directory
	keptChild bool // something inside stays, so this directory stays too
	chmodded  bool
	requeued  int
}

type purger struct {
	ctx       context.Context
	o         purgeOpts
	res       purgeResult
	mnt       uint64
	display   string
	parentFD  int
	stack     []*frame
	openNC    int // open descriptors of frames that are not checkpoints
	scan      int // lowest frame index that may hold a closable descriptor
	aborted   bool
	sinceTick int
}

// purgeTree removes dir and everything below it (or only what o selects),
// handle-relative: every directory is opened with O_NOFOLLOW|O_DIRECTORY from its
// parent's descriptor, entries are removed with unlinkat, symlinks are removed
// and never followed, and a directory on another mount than dir is never
// entered. What cannot be removed is returned as leftovers. With o.workers > 1
// (full removal only) subtrees are first purged by that many goroutines, then one
// sequential pass removes the rest: unlinks in different directories run in
// parallel in the kernel.
func purgeTree(ctx context.Context, dir string, o purgeOpts) purgeResult {
	q := strconv.Quote(dir)
	pfd, err := openDirPath(filepath.Dir(dir))
	if err != nil {
		var r purgeResult
		r.leftover(o.maxLeft, q, "cannot open parent: "+err.Error())
		return r
	}
	defer unix.Close(pfd)
	var res purgeResult
	if o.workers > 1 && o.onlyUID < 0 && !o.dryRun {
		res = purgeParallel(ctx, pfd, filepath.Base(dir), dir, o)
	}
	final := purgeAt(ctx, pfd, filepath.Base(dir), dir, 0, o)
	res.Files += final.Files
	res.Dirs += final.Dirs
	res.Bytes += final.Bytes
	seen := map[Leftover]bool{}
	left := res.Leftovers
	res.Leftovers = nil
	for _, l := range append(left, final.Leftovers...) {
		if !seen[l] {
			seen[l] = true
			res.leftover(o.maxLeft, l.Path, l.Reason)
		}
	}
	return res
}

type subtree struct {
	parentFD      int
	name, display string
}

// purgeParallel opens the tree breadth-first (same guards: no symlink, same
// mount) until it has enough subtrees, then purges them with o.workers
// goroutines. What it leaves, the sequential pass that follows finds again.
func purgeParallel(ctx context.Context, pfd int, name, display string, o purgeOpts) purgeResult {
	var res purgeResult
	rootFD, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return res
	}
	mnt, err := mountID(rootFD)
	if err != nil {
		unix.Close(rootFD)
		return res
	}
	fds := []int{rootFD}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	level := []subtree{{parentFD: -1, name: "", display: display}}
	levelFDs := []int{rootFD}
	var work []subtree
	for depth := 0; depth < 4 && len(level) > 0; depth++ {
		var next []subtree
		var nextFDs []int
		for i, st := range level {
			for _, child := range subdirs(levelFDs[i]) {
				next = append(next, subtree{parentFD: levelFDs[i], name: child, display: st.display + "/" + child})
			}
		}
		if len(next) >= 4*o.workers || depth == 3 || len(next) == 0 {
			work = next
			break
		}
		// go one level deeper: open each (checked) and list it
		var kept []subtree
		for _, st := range next {
			fd, err := unix.Openat(st.parentFD, st.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			if m, err := mountID(fd); err != nil || m != mnt || len(fds) > 4096 {
				unix.Close(fd)
				continue
			}
			fds = append(fds, fd)
			kept = append(kept, st)
			nextFDs = append(nextFDs, fd)
		}
		level, levelFDs = kept, nextFDs
	}
	if len(work) == 0 {
		return res
	}
	jobs := make(chan subtree)
	results := make(chan purgeResult)
	for range o.workers {
		go func() {
			var r purgeResult
			for st := range jobs {
				sub := o
				sub.keepRoot = false
				sr := purgeAt(ctx, st.parentFD, st.name, st.display, mnt, sub)
				r.Files += sr.Files
				r.Dirs += sr.Dirs
				r.Bytes += sr.Bytes
				r.Leftovers = append(r.Leftovers, sr.Leftovers...)
			}
			results <- r
		}()
	}
	for _, st := range work {
		jobs <- st
	}
	close(jobs)
	for range o.workers {
		r := <-results
		res.Files += r.Files
		res.Dirs += r.Dirs
		res.Bytes += r.Bytes
		res.Leftovers = append(res.Leftovers, r.Leftovers...)
	}
	return res
}

// subdirs lists the names of the directories in fd (by d_type; entries of
// unknown type are left to the sequential pass).
func subdirs(fd int) []string {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil
	}
	var out []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil || n <= 0 {
			return out
		}
		for off := 0; off+19 <= n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			if reclen == 0 || off+reclen > n {
				break
			}
			typ := buf[off+18]
			nameb := buf[off+19 : off+reclen]
			if i := bytesIndexZero(nameb); i >= 0 {
				nameb = nameb[:i]
			}
			name := string(nameb)
			if typ == unix.DT_DIR && name != "." && name != ".." {
				out = append(out, name)
			}
			off += reclen
		}
	}
}

func bytesIndexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// purgeAt purges name inside the directory pfd (see purgeTree). wantMnt, when
// not 0, is the mount the directory must be on.
func purgeAt(ctx context.Context, pfd int, name, display string, wantMnt uint64, o purgeOpts) purgeResult {
	p := &purger{ctx: ctx, o: o, display: display, parentFD: pfd, scan: 1}
	q := strconv.Quote(display)
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EACCES) && o.chmodUID >= 0 {
		var st unix.Stat_t
		if unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && p.chmodDirAt(pfd, name, &st) == nil {
			fd, err = unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if errors.Is(err, unix.ENOENT) {
		return p.res
	}
	if err != nil {
		p.res.leftover(o.maxLeft, q, "cannot open: "+err.Error())
		return p.res
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		p.res.leftover(o.maxLeft, q, "cannot stat: "+err.Error())
		return p.res
	}
	if p.mnt, err = mountID(fd); err != nil || (wantMnt != 0 && p.mnt != wantMnt) {
		unix.Close(fd)
		reason := "mount point: not crossed"
		if err != nil {
			reason = err.Error()
		}
		p.res.leftover(o.maxLeft, q, reason)
		return p.res
	}
	p.push(&frame{fd: fd, name: name, dev: st.Dev, ino: st.Ino, uid: st.Uid, mode: st.Mode,
		keep: o.keepRoot || !p.owned(st.Uid)})
	p.run()
	for _, f := range p.stack {
		if f.fd >= 0 {
			unix.Close(f.fd)
		}
	}
	return p.res
}

func (p *purger) owned(uid uint32) bool { return p.o.onlyUID < 0 || int(uid) == p.o.onlyUID }

func isCheckpoint(i int) bool { return i%checkpointEvery == 0 }

func (p *purger) setFD(i, fd int) {
	f := p.stack[i]
	switch {
	case f.fd < 0 && fd >= 0 && !isCheckpoint(i):
		p.openNC++
	case f.fd >= 0 && fd < 0 && !isCheckpoint(i):
		p.openNC--
	}
	if f.fd >= 0 && fd < 0 {
		unix.Close(f.fd)
	}
	f.fd = fd
	if fd >= 0 && i < p.scan && !isCheckpoint(i) {
		p.scan = i
	}
}

func (p *purger) push(f *frame) {
	fd := f.fd
	f.fd = -1
	p.stack = append(p.stack, f)
	p.setFD(len(p.stack)-1, fd)
	// close the oldest descriptors beyond the window: never a checkpoint's, the
	// top frame's nor its parent's
	for p.openNC > fdWindow && p.scan < len(p.stack)-2 {
		if !isCheckpoint(p.scan) {
			p.setFD(p.scan, -1)
		}
		p.scan++
	}
}

func (p *purger) pop() *frame {
	i := len(p.stack) - 1
	f := p.stack[i]
	p.setFD(i, -1)
	p.stack = p.stack[:i]
	if p.scan > len(p.stack) {
		p.scan = len(p.stack)
	}
	return f
}

// ensureOpen reopens frame i (and the frames between it and the nearest open
// ancestor) by name, checking each is the directory it was.
func (p *purger) ensureOpen(i int) bool {
	if p.stack[i].fd >= 0 {
		return true
	}
	j := i - 1
	for p.stack[j].fd < 0 {
		j--
	}
	for k := j + 1; k <= i; k++ {
		f := p.stack[k]
		fd, err := unix.Openat(p.stack[k-1].fd, f.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		var st unix.Stat_t
		if err == nil {
			err = unix.Fstat(fd, &st)
			if err == nil && (st.Dev != f.dev || st.Ino != f.ino) {
				err = errors.New("directory was replaced")
			}
			if err != nil {
				unix.Close(fd)
			}
		}
		if err != nil {
			p.res.leftover(p.o.maxLeft, p.path(k, ""), "tree changed during purge; stopped: "+err.Error())
			p.aborted = true
			return false
		}
		p.setFD(k, fd)
	}
	return true
}

// path names stack frame i (and child, if not empty) for a report, quoted.
func (p *purger) path(i int, child string) string {
	var b strings.Builder
	b.WriteString(p.display)
	for k := 1; k <= i && k < len(p.stack); k++ {
		b.WriteByte('/')
		b.WriteString(p.stack[k].name)
	}
	if child != "" {
		b.WriteByte('/')
		b.WriteString(child)
	}
	s := b.String()
	if len(s) > 1024 {
		s = "…" + s[len(s)-1000:]
	}
	return strconv.Quote(s)
}

func (p *purger) listNames(f *frame) error {
	if _, err := unix.Seek(f.fd, 0, 0); err != nil {
		return err
	}
	f.names = f.names[:0]
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.ReadDirent(f.fd, buf)
		if err != nil {
			return err
		}
		if n <= 0 {
			break
		}
		_, _, f.names = unix.ParseDirent(buf[:n], -1, f.names)
	}
	f.listed = true
	return nil
}

func (p *purger) run() {
	for len(p.stack) > 0 && !p.aborted {
		if p.sinceTick++; p.sinceTick >= 256 {
			p.sinceTick = 0
			if err := p.ctx.Err(); err != nil {
				p.res.leftover(p.o.maxLeft, strconv.Quote(p.display), "purge interrupted: "+err.Error())
				return
			}
		}
		i := len(p.stack) - 1
		f := p.stack[i]
		if !p.ensureOpen(i) {
			return
		}
		if !f.listed {
			if err := p.listNames(f); err != nil {
				p.res.leftover(p.o.maxLeft, p.path(i, ""), "cannot read directory: "+err.Error())
				f.keptChild = true
				f.names = nil
			}
		}
		if n := len(f.names); n > 0 {
			name := f.names[n-1]
			f.names = f.names[:n-1]
			p.entry(i, f, name)
			continue
		}
		p.finish(i, f)
	}
}

func (p *purger) requeue(f *frame, name string) bool {
	if f.requeued > 1000 {
		return false
	}
	f.requeued++
	f.names = append(f.names, name)
	return true
}

// entry handles one name in directory frame i.
func (p *purger) entry(i int, f *frame, name string) {
	var st unix.Stat_t
	err := unix.Fstatat(f.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return
	}
	if err != nil {
		p.res.leftover(p.o.maxLeft, p.path(i, name), "cannot stat: "+err.Error())
		f.keptChild = true
		return
	}
	owned := p.owned(st.Uid)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if p.o.dryRun && owned {
			p.res.leftover(p.o.maxLeft, p.path(i, name), "directory owned by the patron")
			return
		}
		fd, err := unix.Openat(f.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EACCES) && p.mayChmod(st.Uid) && p.chmodDirAt(f.fd, name, &st) == nil {
			fd, err = unix.Openat(f.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		switch {
		case errors.Is(err, unix.ENOENT):
			return
		case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
			if !p.requeue(f, name) { // replaced by a non-directory meanwhile
				p.res.leftover(p.o.maxLeft, p.path(i, name), "keeps changing type")
				f.keptChild = true
			}
			return
		case err != nil:
			p.res.leftover(p.o.maxLeft, p.path(i, name), "cannot open directory: "+err.Error())
			f.keptChild = true
			return
		}
		mid, err := mountID(fd)
		if err != nil || mid != p.mnt {
			unix.Close(fd)
			reason := "mount point: not crossed"
			if err != nil {
				reason = err.Error()
			}
			p.res.leftover(p.o.maxLeft, p.path(i, name), reason)
			f.keptChild = true
			return
		}
		var cst unix.Stat_t
		if err := unix.Fstat(fd, &cst); err != nil || cst.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(fd)
			p.res.leftover(p.o.maxLeft, p.path(i, name), "directory changed while opened")
			f.keptChild = true
			return
		}
		p.push(&frame{fd: fd, name: name, dev: cst.Dev, ino: cst.Ino, uid: cst.Uid, mode: cst.Mode, keep: !p.owned(cst.Uid)})
		return
	}
	if !owned {
		f.keptChild = true
		return
	}
	if p.o.dryRun {
		p.res.leftover(p.o.maxLeft, p.path(i, name), "owned by the patron")
		return
	}
	err = unix.Unlinkat(f.fd, name, 0)
	if (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) && !f.chmodded && p.mayChmod(f.uid) {
		// a read-only directory of the patron: open it up (directories only, see chmodDirAt)
		f.chmodded = true
		if unix.Fchmod(f.fd, f.mode&0o7777|0o777) == nil {
			err = unix.Unlinkat(f.fd, name, 0)
		}
	}
	switch {
	case err == nil:
		p.res.Files++
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			p.res.Bytes += st.Size
		}
	case errors.Is(err, unix.ENOENT):
	case errors.Is(err, unix.EISDIR):
		if !p.requeue(f, name) {
			p.res.leftover(p.o.maxLeft, p.path(i, name), "keeps changing type")
			f.keptChild = true
		}
	case errors.Is(err, unix.EBUSY):
		p.res.leftover(p.o.maxLeft, p.path(i, name), "mount point: not crossed")
		f.keptChild = true
	default:
		p.res.leftover(p.o.maxLeft, p.path(i, name), "cannot remove: "+err.Error())
		f.keptChild = true
	}
}

func (p *purger) mayChmod(uid uint32) bool { return p.o.chmodUID >= 0 && int(uid) == p.o.chmodUID }

// chmodDirAt gives a patron's directory a+rwx, after checking through an O_PATH
// descriptor that it is still that directory (never a file, never a link). It
// is only used inside the trash, whose root is 0700 root, so nobody else can
// reach the opened directory; "all" rather than "user" because the agent is not
// the directory's owner and may run without CAP_DAC_OVERRIDE (hardened unit): it
// then needs CAP_FOWNER for the chmod and the "other" bits to get in.
func (p *purger) chmodDirAt(dirfd int, name string, want *unix.Stat_t) error {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Dev != want.Dev || st.Ino != want.Ino || st.Mode&unix.S_IFMT != unix.S_IFDIR || !p.mayChmod(st.Uid) {
		return errors.New("directory changed")
	}
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), st.Mode&0o7777|0o777)
}

// finish removes directory frame i once it has been emptied.
func (p *purger) finish(i int, f *frame) {
	parentKept := func() {
		if i > 0 {
			p.stack[i-1].keptChild = true
		}
	}
	if f.keep || f.keptChild || p.o.dryRun {
		if f.keptChild && !f.keep && p.o.onlyUID >= 0 && !p.o.dryRun {
			p.res.leftover(p.o.maxLeft, p.path(i, ""), "directory of the patron holds entries of others")
		}
		if f.keep || f.keptChild {
			parentKept()
		}
		p.pop()
		return
	}
	pfd := p.parentFD
	if i > 0 {
		if !p.ensureOpen(i - 1) {
			return
		}
		pfd = p.stack[i-1].fd
	}
	err := unix.Unlinkat(pfd, f.name, unix.AT_REMOVEDIR)
	if (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) && i > 0 {
		if g := p.stack[i-1]; !g.chmodded && p.mayChmod(g.uid) {
			g.chmodded = true
			if unix.Fchmod(g.fd, g.mode&0o7777|0o777) == nil {
				err = unix.Unlinkat(pfd, f.name, unix.AT_REMOVEDIR)
			}
		}
	}
	switch {
	case err == nil:
		p.res.Dirs++
		p.pop()
	case errors.Is(err, unix.ENOENT):
		p.pop()
	case errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST):
		if f.tries < p.o.retries {
			f.tries++
			f.listed = false // something was created meanwhile: empty it again
			return
		}
		p.res.leftover(p.o.maxLeft, p.path(i, ""), fmt.Sprintf("refilled while purged: not empty after %d passes", f.tries+1))
		parentKept()
		p.pop()
	case errors.Is(err, unix.EBUSY):
		p.res.leftover(p.o.maxLeft, p.path(i, ""), "mount point: not crossed")
		parentKept()
		p.pop()
	default:
		p.res.leftover(p.o.maxLeft, p.path(i, ""), "cannot remove directory: "+err.Error())
		parentKept()
		p.pop()
	}
}
