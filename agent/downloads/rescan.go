//go:build linux || darwin

package downloads

import (
	"container/heap"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// This file is the portable half of the macOS watcher. kqueue only says that a
// directory's entries changed or that a file was written: never which name,
// and never that a file was closed. The rescanner keeps each directory's
// listing, compares it with the directory on every change, and reports a file
// once it has stopped changing for a settle time, or at once when it was
// renamed from a partial download's name (a finished .crdownload). It is built
// on Linux too, where its tests run; watch_darwin.go, the kqueue half, only
// compiles there.

// rescanConfig bounds a rescanWatcher's work and its kernel watches.
type rescanConfig struct {
	// settle: a file is reported once its size and mtime have not changed
	// for this long (there is no close event to wait for).
	settle time.Duration
	// bundleSettle replaces settle for files in a directory named *.download,
	// Safari's partial download: the file inside has its final name and is
	// moved out when complete, so a short stall must not get it judged.
	bundleSettle time.Duration
	// tick: how often the background passes below run.
	tick time.Duration
	// pollBatch: directories without a kernel watch rescanned per tick.
	pollBatch int
	// sweepBatch: directories rescanned per tick whether watched or not, so a
	// file rewritten in place (no directory changes) is seen again.
	sweepBatch int
	// maxDepth: directory levels followed below a root.
	maxDepth int
	// maxDirWatches and maxFileWatches bound the kernel watches (on macOS one
	// open descriptor each). Directories past the limit are polled; files
	// past it are checked only when their settle time ends.
	maxDirWatches, maxFileWatches int
}

// defaultRescan is the macOS watcher's configuration. kqueue holds one
// descriptor per watch (O_EVTONLY: it does not keep a volume from
// unmounting); 4096 directories and 1024 files still settling stay far below
// the per-process limit, and what is past them is polled.
var defaultRescan = rescanConfig{
	settle:         300 * time.Millisecond,
	bundleSettle:   30 * time.Second,
	tick:           time.Second,
	pollBatch:      256,
	sweepBatch:     32,
	maxDepth:       MaxDepth,
	maxDirWatches:  4096,
	maxFileWatches: 1024,
}

// notifier is the OS half of a rescanWatcher: it asks the kernel to say when a
// directory's entries or a file's content change, and passes that on to the
// watcher's dirChanged and fileChanged. watch and unwatch are only called from
// the watcher's loop, close only after the loop has ended.
type notifier interface {
	// watch starts notifications for path if it still is the directory or
	// file id. On error the path is polled instead.
	watch(path string, id fileID, dir bool) error
	unwatch(path string, dir bool)
	close() error
}

// fileID is a file's identity: device and inode number.
type fileID struct{ dev, ino uint64 }

// fileSig is what "has not changed" means for a file.
type fileSig struct {
	id    fileID
	size  int64
	mtime int64 // nanoseconds
}

func statID(st *unix.Stat_t) fileID { return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)} }

func statSig(st *unix.Stat_t) fileSig {
	return fileSig{id: statID(st), size: st.Size, mtime: st.Mtim.Nano()}
}

// entry is one name in a directory as last seen: a directory, or a regular
// file with the signature it was last reported (or seen) with.
type entry struct {
	sig fileSig
	dir bool
}

type dirState struct {
	id      fileID
	depth   int
	watched bool
	entries map[string]entry // regular files and directories only
}

// pendingFile is a file waiting to be stable for its settle time.
type pendingFile struct {
	path     string
	sig      fileSig
	op       Op
	deadline time.Time
	watched  bool
}

// scanState is the rescanner's bookkeeping. It is not safe for concurrent use:
// a rescanWatcher's loop owns it (tests drive it directly, with a fake clock).
type scanState struct {
	cfg  rescanConfig
	n    notifier
	emit func(Event) bool // false: the watcher is closing
	now  func() time.Time
	log  *slog.Logger

	stopped bool // emit refused; no more work

	dirs            map[string]*dirState
	order           []string // directories in the order added, for the background passes; may hold stale paths
	pollAt, sweepAt int      // cursors into order
	dirty           map[string]bool
	partials        map[fileID]int // partial downloads' names per identity: a new name with one of them is a finished download
	vanished        map[fileID]time.Time
	pending         map[string]*pendingFile
	queue           settleQueue
	dirWatches      int
	fileWatches     int
	nextTick        time.Time
	warnedLimit     bool
}

func newScanState(cfg rescanConfig, n notifier, emit func(Event) bool, now func() time.Time, log *slog.Logger) *scanState {
	return &scanState{
		cfg: cfg, n: n, emit: emit, now: now, log: log,
		dirs: map[string]*dirState{}, dirty: map[string]bool{}, partials: map[fileID]int{},
		vanished: map[fileID]time.Time{}, pending: map[string]*pendingFile{},
	}
}

// skipName: names never reported (partial downloads, the quarantine's own
// restore files); they are still tracked, so a rename from them is seen.
func skipName(name string) bool {
	return IsPartial(name) || strings.HasPrefix(name, ".carrel-restore-")
}

// isGone: the path no longer names a plain directory (deleted, replaced by a
// file or a link).
func isGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)
}

// openDir opens path as a directory without following a final link.
func openDir(path string) (*os.File, int, fileID, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, fileID{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, -1, fileID{}, err
	}
	return os.NewFile(uintptr(fd), path), fd, statID(&st), nil
}

// addRoot watches root and everything below it; the files found are reported
// once settled. A root still watched is left alone; one replaced by another
// directory of the same name is dropped and watched anew.
func (s *scanState) addRoot(root string) error {
	d, _, id, err := openDir(root)
	if err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	d.Close()
	if ds := s.dirs[root]; ds != nil {
		if ds.id == id {
			return nil
		}
		s.dropTree(root)
	}
	return s.addTree(root, 0)
}

// dirChanged: path's entries may have changed.
func (s *scanState) dirChanged(path string) {
	if s.dirs[path] != nil {
		s.dirty[path] = true
	}
}

// fileChanged: the file at path was written; it must be quiet for its settle
// time from now. A file not pending has its directory compared instead.
func (s *scanState) fileChanged(path string) {
	pf := s.pending[path]
	if pf == nil {
		s.markParent(path)
		return
	}
	sig, ok := statFile(path)
	if !ok || sig.id != pf.sig.id {
		s.markParent(path) // gone or replaced: the directory's rescan says which
		return
	}
	pf.sig = sig
	pf.deadline = s.now().Add(s.settleFor(path))
}

// run does what is due: the background passes, the dirty directories, the
// files whose settle time is over. It returns when it next has work to do
// unless a change arrives first.
func (s *scanState) run() time.Time {
	if now := s.now(); !now.Before(s.nextTick) {
		s.nextTick = now.Add(s.cfg.tick)
		s.pruneVanished()
		s.background()
	}
	for len(s.dirty) > 0 && !s.stopped {
		for p := range s.dirty {
			delete(s.dirty, p)
			s.rescan(p)
			if s.stopped {
				break
			}
		}
	}
	s.settleDue()
	if len(s.dirty) > 0 {
		return s.now() // a settle check found a file gone or replaced
	}
	next := s.nextTick
	if len(s.queue) > 0 && s.queue[0].at.Before(next) {
		next = s.queue[0].at
	}
	return next
}

// background polls directories that have no watch (giving them one if the
// limit now allows) and sweeps all directories, a batch per tick each.
func (s *scanState) background() {
	s.compact()
	for i, n := 0, 0; i < len(s.order) && n < s.cfg.pollBatch; i++ {
		p := s.order[s.pollAt]
		s.pollAt = (s.pollAt + 1) % len(s.order)
		if ds := s.dirs[p]; ds != nil && !ds.watched {
			s.watchDir(p, ds)
			s.dirty[p] = true
			n++
		}
	}
	for i, n := 0, 0; i < len(s.order) && n < s.cfg.sweepBatch; i++ {
		p := s.order[s.sweepAt]
		s.sweepAt = (s.sweepAt + 1) % len(s.order)
		if s.dirs[p] != nil {
			s.dirty[p] = true
			n++
		}
	}
}

// compact drops stale paths from order once they outnumber the live ones.
func (s *scanState) compact() {
	if len(s.order) <= 2*len(s.dirs)+1024 {
		return
	}
	seen := make(map[string]bool, len(s.dirs))
	live := s.order[:0]
	for _, p := range s.order {
		if s.dirs[p] != nil && !seen[p] {
			seen[p] = true
			live = append(live, p)
		}
	}
	clear(s.order[len(live):])
	s.order = live
	s.pollAt, s.sweepAt = 0, 0
}

// addTree watches and lists dir and every directory below it, breadth first,
// so that the shallow directories (Downloads, Desktop) get kernel watches
// before the limit is reached. It returns the first error.
func (s *scanState) addTree(dir string, depth int) error {
	type item struct {
		path  string
		depth int
	}
	var firstErr error
	keep := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	queue := []item{{dir, depth}}
	for len(queue) > 0 && !s.stopped {
		it := queue[0]
		queue = queue[1:]
		if it.depth > s.cfg.maxDepth {
			keep(fmt.Errorf("watch %s: deeper than %d levels, not watched", it.path, s.cfg.maxDepth))
			continue
		}
		if s.dirs[it.path] != nil {
			continue // already watched (a root below another root)
		}
		d, fd, id, err := openDir(it.path)
		if err != nil {
			if !isGone(err) {
				keep(fmt.Errorf("watch %s: %w", it.path, err))
			}
			continue
		}
		ds := &dirState{id: id, depth: it.depth, entries: map[string]entry{}}
		s.dirs[it.path] = ds
		s.order = append(s.order, it.path)
		// Watch before listing: a name made after the listing raises a note.
		s.watchDir(it.path, ds)
		subdirs, err := s.list(it.path, ds, d, fd, true)
		d.Close()
		if err != nil {
			keep(err)
		}
		for _, sd := range subdirs {
			queue = append(queue, item{sd, it.depth + 1})
		}
	}
	return firstErr
}

// rescan compares dir with what is known of it.
func (s *scanState) rescan(dir string) {
	ds := s.dirs[dir]
	if ds == nil {
		return
	}
	d, fd, id, err := openDir(dir)
	if err != nil {
		if isGone(err) {
			s.dropTree(dir)
			s.markParent(dir)
		} else {
			s.emitErr(fmt.Errorf("rescan %s: %w", dir, err))
		}
		return
	}
	if id != ds.id {
		// Another directory has this name now (the old one was moved away).
		d.Close()
		s.dropTree(dir)
		s.markParent(dir)
		return
	}
	subdirs, err := s.list(dir, ds, d, fd, false)
	d.Close()
	if err != nil {
		s.emitErr(err)
	}
	for _, sd := range subdirs {
		if err := s.addTree(sd, ds.depth+1); err != nil {
			s.emitErr(err)
		}
	}
}

// list reads the directory open as d (fd) and brings ds up to date: new and
// changed files are pending, a partial download renamed to its final name is
// reported at once, names gone are forgotten (a deletion is never reported).
// It returns the new subdirectories. fresh: the directory is new, its files
// are OpScanned.
func (s *scanState) list(dir string, ds *dirState, d *os.File, fd int, fresh bool) ([]string, error) {
	names, err := d.Readdirnames(-1)
	if err != nil {
		// A partial listing must not make the rest look deleted.
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	type found struct {
		name string
		sig  fileSig
		dir  bool
	}
	listed := make([]found, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone since the listing
		}
		mode := uint32(st.Mode) & unix.S_IFMT
		if mode != unix.S_IFDIR && mode != unix.S_IFREG {
			continue // links are never followed; FIFOs, sockets, devices are not downloads
		}
		seen[name] = true
		listed = append(listed, found{name, statSig(&st), mode == unix.S_IFDIR})
	}
	// Names gone first: a new name here may already have a deleted file's
	// inode number.
	for name, old := range ds.entries {
		if !seen[name] {
			s.forget(dir, name, old)
		}
	}
	var subdirs []string
	for _, f := range listed {
		p := filepath.Join(dir, f.name)
		old, known := ds.entries[f.name]
		if known && (old.dir != f.dir || old.sig.id != f.sig.id) {
			s.forget(dir, f.name, old) // replaced under the same name
			known = false
		}
		if f.dir {
			if !known {
				ds.entries[f.name] = entry{sig: fileSig{id: f.sig.id}, dir: true}
			}
			// New, or known but not watched yet (it could not be opened: it
			// is tried again whenever its parent is rescanned).
			if !known || (s.dirs[p] == nil && ds.depth < s.cfg.maxDepth) {
				subdirs = append(subdirs, p)
			}
			continue
		}
		ds.entries[f.name] = entry{sig: f.sig}
		finished := false
		if !known {
			_, wasGone := s.vanished[f.sig.id]
			finished = s.partials[f.sig.id] > 0 || wasGone
			delete(s.vanished, f.sig.id)
			if isPartialPath(p) {
				s.partials[f.sig.id]++
			}
		}
		switch {
		case skipName(f.name):
			// Tracked only, so that its rename to the final name is seen.
		case known && old.sig == f.sig:
			// Unchanged.
		case finished:
			if !s.emit(Event{Path: p, Op: OpMoved}) {
				s.stopped = true
				return nil, nil
			}
		case s.pending[p] != nil:
			// Settling already: the check at its deadline sees the change.
		default:
			op := OpClosed
			if fresh {
				op = OpScanned
			}
			s.pend(p, f.sig, op)
		}
	}
	return subdirs, nil
}

// forget removes name from dir's entries (a directory's whole tree).
func (s *scanState) forget(dir, name string, old entry) {
	delete(s.dirs[dir].entries, name)
	p := filepath.Join(dir, name)
	if old.dir {
		s.dropTree(p)
		return
	}
	if isPartialPath(p) {
		if s.partials[old.sig.id]--; s.partials[old.sig.id] <= 0 {
			delete(s.partials, old.sig.id)
		}
		// Only a partial download's identity is remembered once its name is
		// gone: a deleted file's inode number may be reused at once (FAT,
		// ext4), and a new file must not pass for a finished download.
		s.vanished[old.sig.id] = s.now()
	}
	s.unpend(p)
}

// dropTree forgets dir and everything below it and releases their watches.
func (s *scanState) dropTree(dir string) {
	ds := s.dirs[dir]
	if ds == nil {
		return
	}
	for name, e := range ds.entries {
		s.forget(dir, name, e)
	}
	if ds.watched {
		s.n.unwatch(dir, true)
		s.dirWatches--
	}
	delete(s.dirs, dir)
	delete(s.dirty, dir)
}

func (s *scanState) markParent(path string) {
	s.dirChanged(filepath.Dir(path))
}

func (s *scanState) watchDir(dir string, ds *dirState) {
	if s.dirWatches >= s.cfg.maxDirWatches {
		if !s.warnedLimit {
			s.warnedLimit = true
			s.log.Warn("Directory watch limit reached, polling the rest", "limit", s.cfg.maxDirWatches, "dir", dir)
		}
		return
	}
	if err := s.n.watch(dir, ds.id, true); err != nil {
		s.log.Debug("Directory polled, not watched", "dir", dir, "err", err)
		return
	}
	ds.watched = true
	s.dirWatches++
}

func (s *scanState) settleFor(path string) time.Duration {
	if inBundle(path) {
		return s.cfg.bundleSettle
	}
	return s.cfg.settle
}

// isPartialPath: path is a download still arriving, by its name or because it
// is in a directory named *.download (Safari's partial download).
func isPartialPath(path string) bool { return skipName(filepath.Base(path)) || inBundle(path) }

// inBundle: path is in a directory named *.download.
func inBundle(path string) bool {
	return strings.HasSuffix(strings.ToLower(filepath.Base(filepath.Dir(path))), ".download")
}

// pend makes path wait for its settle time, watched while the limit allows.
func (s *scanState) pend(path string, sig fileSig, op Op) {
	pf := &pendingFile{path: path, sig: sig, op: op, deadline: s.now().Add(s.settleFor(path))}
	if s.fileWatches < s.cfg.maxFileWatches && s.n.watch(path, sig.id, false) == nil {
		pf.watched = true
		s.fileWatches++
	}
	s.pending[path] = pf
	heap.Push(&s.queue, settleItem{at: pf.deadline, pf: pf})
}

func (s *scanState) unpend(path string) {
	pf := s.pending[path]
	if pf == nil {
		return
	}
	if pf.watched {
		s.n.unwatch(path, false)
		s.fileWatches--
	}
	delete(s.pending, path) // its queue item is skipped when it comes up
}

// settleDue reports the pending files whose settle time is over and that did
// not change during it; those that did wait again.
func (s *scanState) settleDue() {
	now := s.now()
	for len(s.queue) > 0 && !s.queue[0].at.After(now) && !s.stopped {
		pf := heap.Pop(&s.queue).(settleItem).pf
		if s.pending[pf.path] != pf {
			continue
		}
		if pf.deadline.After(now) { // written since it was queued
			heap.Push(&s.queue, settleItem{at: pf.deadline, pf: pf})
			continue
		}
		sig, ok := statFile(pf.path)
		if !ok || sig.id != pf.sig.id {
			s.unpend(pf.path)
			s.markParent(pf.path)
			continue
		}
		if sig != pf.sig {
			pf.sig = sig
			pf.deadline = now.Add(s.settleFor(pf.path))
			heap.Push(&s.queue, settleItem{at: pf.deadline, pf: pf})
			continue
		}
		s.unpend(pf.path)
		if ds := s.dirs[filepath.Dir(pf.path)]; ds != nil {
			name := filepath.Base(pf.path)
			if e, ok := ds.entries[name]; ok && !e.dir && e.sig.id == sig.id {
				ds.entries[name] = entry{sig: sig} // reported as it is now
			}
		}
		if !s.emit(Event{Path: pf.path, Op: pf.op}) {
			s.stopped = true
		}
	}
}

// pruneVanished forgets identities gone for longer than a rename between two
// directories can take to be seen on both sides.
func (s *scanState) pruneVanished() {
	cutoff := s.now().Add(-(s.cfg.settle + 2*s.cfg.tick))
	for id, at := range s.vanished {
		if at.Before(cutoff) {
			delete(s.vanished, id)
		}
	}
}

func (s *scanState) emitErr(err error) {
	if !s.emit(Event{Err: err}) {
		s.stopped = true
	}
}

func statFile(path string) (fileSig, bool) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG {
		return fileSig{}, false
	}
	return statSig(&st), true
}

// settleQueue is a min-heap of settle deadlines. A pending file has one item;
// an item whose file was unpended or re-pended is skipped.
type settleItem struct {
	at time.Time
	pf *pendingFile
}

type settleQueue []settleItem

func (q settleQueue) Len() int           { return len(q) }
func (q settleQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q settleQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *settleQueue) Push(x any)        { *q = append(*q, x.(settleItem)) }
func (q *settleQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = settleItem{}
	*q = old[:len(old)-1]
	return it
}

// rescanWatcher is a Watcher made of a scanState and an OS notifier. One
// goroutine (loop) owns the scanState; the notifier's goroutine only records
// what changed and wakes it.
type rescanWatcher struct {
	s      *scanState
	n      notifier
	events chan Event
	done   chan struct{}
	kick   chan struct{} // one pending wake-up
	wg     sync.WaitGroup
	once   sync.Once

	mu    sync.Mutex // protects dirs, files and calls
	dirs  map[string]struct{}
	files map[string]struct{}
	calls []func(*scanState)
}

var _ Watcher = (*rescanWatcher)(nil)

// newRescanWatcher starts the loop. n's notes go to dirChanged and fileChanged.
func newRescanWatcher(cfg rescanConfig, n notifier, log *slog.Logger) *rescanWatcher {
	w := &rescanWatcher{
		n: n, events: make(chan Event, 1024), done: make(chan struct{}), kick: make(chan struct{}, 1),
		dirs: map[string]struct{}{}, files: map[string]struct{}{},
	}
	w.s = newScanState(cfg, n, w.emit, time.Now, log)
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *rescanWatcher) Events() <-chan Event { return w.events }

func (w *rescanWatcher) emit(e Event) bool {
	select {
	case w.events <- e:
		return true
	case <-w.done:
		return false
	}
}

func (w *rescanWatcher) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// dirChanged records that dir's entries changed. It never blocks.
func (w *rescanWatcher) dirChanged(dir string) {
	w.mu.Lock()
	w.dirs[dir] = struct{}{}
	w.mu.Unlock()
	w.wake()
}

// fileChanged records that the file at path was written. It never blocks.
func (w *rescanWatcher) fileChanged(path string) {
	w.mu.Lock()
	w.files[path] = struct{}{}
	w.mu.Unlock()
	w.wake()
}

// do runs f on the loop; false if the watcher is closed.
func (w *rescanWatcher) do(f func(*scanState)) bool {
	ran := make(chan struct{})
	w.mu.Lock()
	w.calls = append(w.calls, func(s *scanState) { f(s); close(ran) })
	w.mu.Unlock()
	w.wake()
	select {
	case <-ran:
		return true
	case <-w.done:
		return false
	}
}

// fail reports an error of the notifier as an event.
func (w *rescanWatcher) fail(err error) {
	w.mu.Lock()
	w.calls = append(w.calls, func(s *scanState) { s.emitErr(err) })
	w.mu.Unlock()
	w.wake()
}

func (w *rescanWatcher) Add(root string) error {
	root = filepath.Clean(root)
	if !filepath.IsAbs(root) {
		return fmt.Errorf("watch %s: root is not absolute", root)
	}
	var err error
	if !w.do(func(s *scanState) { err = s.addRoot(root) }) {
		return fmt.Errorf("watch %s: watcher closed", root)
	}
	return err
}

// Close stops the loop, then the notifier; Events is closed after both.
func (w *rescanWatcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		w.wg.Wait()
		err = w.n.close()
		close(w.events)
	})
	return err
}

func (w *rescanWatcher) loop() {
	defer w.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		w.mu.Lock()
		var dirs, files map[string]struct{}
		if len(w.dirs) > 0 {
			dirs, w.dirs = w.dirs, map[string]struct{}{}
		}
		if len(w.files) > 0 {
			files, w.files = w.files, map[string]struct{}{}
		}
		calls := w.calls
		w.calls = nil
		w.mu.Unlock()
		for _, f := range calls {
			f(w.s)
		}
		for p := range files {
			w.s.fileChanged(p)
		}
		for p := range dirs {
			w.s.dirChanged(p)
		}
		next := w.s.run()
		if w.s.stopped {
			return
		}
		t.Reset(time.Until(next))
		select {
		case <-w.done:
			return
		case <-w.kick:
		case <-t.C:
		}
	}
}
