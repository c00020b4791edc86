//go:build linux

package downloads

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// MaxDepth is how many directory levels below a root the watcher follows.
const MaxDepth = 64

// dirMask is what every watched directory reports. IN_CREATE is only used for
// new directories (a new file is judged at close-write or moved-to).
const dirMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_CREATE |
	unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// inotifyWatcher watches directory trees with one inotify instance. Watches are
// added through /proc/self/fd/N of a directory opened with O_NOFOLLOW relative to
// its parent, so a directory swapped for a symbolic link is never watched.
type inotifyWatcher struct {
	log    *slog.Logger
	file   *os.File // the inotify descriptor, read through the runtime poller
	fd     int
	events chan Event
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	mu    sync.Mutex           // protects wds and roots
	wds   map[int32]string     // watch descriptor → directory path
	roots map[string]rootWatch // roots added, rescanned on overflow
}

// rootWatch identifies the directory a root's watch is on: a root moved aside
// (a session wipe renames the profile away) and made again is a new directory.
type rootWatch struct {
	wd       int32 // -1 until the watch is in place
	dev, ino uint64
}

var _ Watcher = (*inotifyWatcher)(nil)

// NewWatcher starts an inotify watcher with no roots.
func NewWatcher(log *slog.Logger) (Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify init: %w", err)
	}
	w := &inotifyWatcher{
		log:    log,
		file:   os.NewFile(uintptr(fd), "inotify"),
		fd:     fd,
		events: make(chan Event, 1024),
		done:   make(chan struct{}),
		wds:    make(map[int32]string),
		roots:  make(map[string]rootWatch),
	}
	w.wg.Add(1)
	go w.readLoop()
	return w, nil
}

func (w *inotifyWatcher) Events() <-chan Event { return w.events }

// Close stops the reader; Events is closed once it has returned.
func (w *inotifyWatcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		err = w.file.Close() // unblocks Read
		w.wg.Wait()
		close(w.events)
	})
	return err
}

func (w *inotifyWatcher) Add(root string) error {
	root = filepath.Clean(root)
	if !filepath.IsAbs(root) {
		return fmt.Errorf("watch %s: root is not absolute", root)
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fmt.Errorf("watch %s: %w", root, err)
	}
	w.mu.Lock()
	old, known := w.roots[root]
	if known && w.wds[old.wd] == root && old.dev == st.Dev && old.ino == st.Ino {
		w.mu.Unlock()
		unix.Close(fd)
		return nil // still watching this very directory
	}
	// A different directory now has the root's name: drop the watches of the
	// old tree, whose paths no longer name what they watch.
	for wd, p := range w.wds {
		if Under(p, root) {
			unix.InotifyRmWatch(w.fd, uint32(wd))
			delete(w.wds, wd)
		}
	}
	w.roots[root] = rootWatch{wd: -1, dev: st.Dev, ino: st.Ino}
	w.mu.Unlock()
	w.wg.Add(1)
	defer w.wg.Done()
	return w.addTree(fd, root, 0, true)
}

// emit delivers e unless the watcher is closing.
func (w *inotifyWatcher) emit(e Event) bool {
	select {
	case w.events <- e:
		return true
	case <-w.done:
		return false
	}
}

// addTree watches the directory open as dirfd (which it closes), reports its
// regular files when scan is set, and recurses into its subdirectories without
// following links.
func (w *inotifyWatcher) addTree(dirfd int, path string, depth int, scan bool) error {
	d := os.NewFile(uintptr(dirfd), path)
	defer d.Close()
	wd, err := unix.InotifyAddWatch(w.fd, "/proc/self/fd/"+strconv.Itoa(dirfd), dirMask)
	if err != nil {
		return fmt.Errorf("add watch %s: %w", path, err)
	}
	w.mu.Lock()
	w.wds[int32(wd)] = path
	if rw, ok := w.roots[path]; ok && depth == 0 {
		rw.wd = int32(wd)
		w.roots[path] = rw
	}
	w.mu.Unlock()

	var firstErr error
	for {
		ents, err := d.ReadDir(256)
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(path, name)
			switch {
			case e.Type().IsDir():
				if depth+1 > MaxDepth {
					if firstErr == nil {
						firstErr = fmt.Errorf("watch %s: deeper than %d levels, not watched", p, MaxDepth)
					}
					continue
				}
				cfd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				if err != nil {
					if !errors.Is(err, unix.ENOENT) && firstErr == nil {
						firstErr = fmt.Errorf("open %s: %w", p, err)
					}
					continue
				}
				if err := w.addTree(cfd, p, depth+1, scan); err != nil && firstErr == nil {
					firstErr = err
				}
			case e.Type().IsRegular():
				if scan && !IsPartial(name) {
					if !w.emit(Event{Path: p, Op: OpScanned}) {
						return nil
					}
				}
			}
		}
		if err != nil || len(ents) == 0 {
			break
		}
	}
	return firstErr
}

// readLoop reads inotify events until Close.
func (w *inotifyWatcher) readLoop() {
	defer w.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := w.file.Read(buf)
		if err != nil {
			select {
			case <-w.done:
			default:
				w.emit(Event{Err: fmt.Errorf("read inotify: %w", err)})
			}
			return
		}
		w.handle(buf[:n])
	}
}

// inotifyRecord is one event as read(2) returns it.
type inotifyRecord struct {
	wd   int32
	mask uint32
	name string
}

// parseInotify splits a read(2) buffer into events. A record that claims more
// bytes than the buffer holds ends the parse (the kernel never writes one).
func parseInotify(buf []byte, each func(inotifyRecord) bool) {
	for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
		wd := int32(binary.NativeEndian.Uint32(buf[off:]))
		mask := binary.NativeEndian.Uint32(buf[off+4:])
		n := int(binary.NativeEndian.Uint32(buf[off+12:]))
		start := off + unix.SizeofInotifyEvent
		if n < 0 || n > len(buf)-start {
			return
		}
		if !each(inotifyRecord{wd: wd, mask: mask, name: cstring(buf[start : start+n])}) {
			return
		}
		off = start + n
	}
}

func (w *inotifyWatcher) handle(buf []byte) {
	parseInotify(buf, w.handleOne)
}

// handleOne acts on one event; false stops the parse (the watcher is closing).
func (w *inotifyWatcher) handleOne(ev inotifyRecord) bool {
	name := ev.name
	if ev.mask&unix.IN_Q_OVERFLOW != 0 {
		if !w.emit(Event{Err: ErrOverflow}) {
			return false
		}
		w.rescan()
		return true
	}
	w.mu.Lock()
	dir, ok := w.wds[ev.wd]
	if ev.mask&unix.IN_IGNORED != 0 {
		delete(w.wds, ev.wd)
	}
	w.mu.Unlock()
	if !ok || name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return true // nothing the kernel sends; never a path out of dir
	}
	p := filepath.Join(dir, name)
	if ev.mask&unix.IN_ISDIR != 0 {
		if ev.mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
			w.addNewDir(p)
		}
		return true
	}
	if IsPartial(name) {
		return true
	}
	var op Op
	switch {
	case ev.mask&unix.IN_MOVED_TO != 0:
		op = OpMoved
	case ev.mask&unix.IN_CLOSE_WRITE != 0:
		op = OpClosed
	default:
		return true
	}
	return w.emit(Event{Path: p, Op: op})
}

// addNewDir watches a directory that appeared under a watched one and scans it:
// files may have been written into it before its watch landed.
func (w *inotifyWatcher) addNewDir(p string) {
	depth := w.depthOf(p)
	if depth < 0 {
		return
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			w.emit(Event{Err: fmt.Errorf("open new directory %s: %w", p, err)})
		}
		return
	}
	if depth > MaxDepth {
		unix.Close(fd)
		w.emit(Event{Err: fmt.Errorf("watch %s: deeper than %d levels, not watched", p, MaxDepth)})
		return
	}
	if err := w.addTree(fd, p, depth, true); err != nil {
		w.emit(Event{Err: err})
	}
}

// depthOf returns how far p is below its root, or -1 if no root holds it.
func (w *inotifyWatcher) depthOf(p string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	best := -1
	for r := range w.roots {
		if rel, err := filepath.Rel(r, p); err == nil && rel != ".." && !startsDotDot(rel) {
			d := 0
			if rel != "." {
				d = countSep(rel) + 1
			}
			if best < 0 || d < best {
				best = d
			}
		}
	}
	return best
}

func (w *inotifyWatcher) rescan() {
	w.mu.Lock()
	roots := make([]string, 0, len(w.roots))
	for r := range w.roots {
		roots = append(roots, r)
	}
	w.mu.Unlock()
	for _, r := range roots {
		fd, err := unix.Open(r, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			w.emit(Event{Err: fmt.Errorf("rescan %s: %w", r, err)})
			continue
		}
		if err := w.addTree(fd, r, 0, true); err != nil {
			w.emit(Event{Err: err})
		}
	}
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
