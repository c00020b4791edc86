//go:build windows

package downloads

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/windows"
)

// settle is how long a file must be quiet before it is judged: Windows has no
// close-write event, so a file still being written raises MODIFIED again.
const settle = 300 * time.Millisecond

// rdcwMask: names (create, delete, rename) and writes.
const rdcwMask = windows.FILE_NOTIFY_CHANGE_FILE_NAME | windows.FILE_NOTIFY_CHANGE_DIR_NAME |
	windows.FILE_NOTIFY_CHANGE_LAST_WRITE

// rdcwWatcher watches each root with one recursive ReadDirectoryChangesW
// (overlapped, so Close can cancel it). Change notifications do not follow
// junctions or symbolic links out of the tree.
type rdcwWatcher struct {
	log    *slog.Logger
	events chan Event
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex // protects roots and pending
	roots   map[string]rootHandle
	pending map[string]pendingFile // files waiting to settle
}

// rootHandle is a watched root: the directory handle and what it was opened on,
// so a root moved aside and made again is watched anew.
type rootHandle struct {
	h  windows.Handle
	fi os.FileInfo
}

type pendingFile struct {
	last time.Time
	op   Op
}

var _ Watcher = (*rdcwWatcher)(nil)

// NewWatcher starts a ReadDirectoryChangesW watcher with no roots.
func NewWatcher(log *slog.Logger) (Watcher, error) {
	w := &rdcwWatcher{
		log: log, events: make(chan Event, 1024), done: make(chan struct{}),
		roots: map[string]rootHandle{}, pending: map[string]pendingFile{},
	}
	w.wg.Add(1)
	go w.settleLoop()
	return w, nil
}

func (w *rdcwWatcher) Events() <-chan Event { return w.events }

func (w *rdcwWatcher) Close() error {
	w.once.Do(func() {
		close(w.done)
		w.mu.Lock()
		for _, rh := range w.roots {
			windows.CancelIoEx(rh.h, nil)
		}
		w.mu.Unlock()
		w.wg.Wait()
		close(w.events)
	})
	return nil
}

func (w *rdcwWatcher) emit(e Event) bool {
	select {
	case w.events <- e:
		return true
	case <-w.done:
		return false
	}
}

func (w *rdcwWatcher) Add(root string) error {
	root = filepath.Clean(root)
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("watch %s: not a plain directory", root)
	}
	w.mu.Lock()
	old, watching := w.roots[root]
	w.mu.Unlock()
	if watching && os.SameFile(old.fi, fi) {
		return nil
	}
	if watching {
		windows.CancelIoEx(old.h, nil) // its loop ends; the new directory gets its own
	}
	p, err := windows.UTF16PtrFromString(root)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.FILE_LIST_DIRECTORY,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OVERLAPPED|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	w.mu.Lock()
	w.roots[root] = rootHandle{h: h, fi: fi}
	w.mu.Unlock()
	w.wg.Add(1)
	go w.readLoop(root, h)
	w.scan(root)
	return nil
}

// scan reports the regular files under dir without following links.
func (w *rdcwWatcher) scan(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type()&(os.ModeSymlink|os.ModeIrregular) != 0 {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && !IsPartial(d.Name()) {
			if !w.emit(Event{Path: p, Op: OpScanned}) {
				return filepath.SkipAll
			}
		}
		return nil
	})
}

func (w *rdcwWatcher) readLoop(root string, h windows.Handle) {
	defer w.wg.Done()
	defer func() {
		w.mu.Lock()
		if w.roots[root].h == h {
			delete(w.roots, root)
		}
		w.mu.Unlock()
		windows.CloseHandle(h)
	}()
	buf := make([]byte, 64<<10)
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		w.emit(Event{Err: fmt.Errorf("watch %s: %w", root, err)})
		return
	}
	defer windows.CloseHandle(ev)
	for {
		ov := windows.Overlapped{HEvent: ev}
		var n uint32
		err := windows.ReadDirectoryChanges(h, &buf[0], uint32(len(buf)), true, rdcwMask, nil, &ov, 0)
		if err == nil || errors.Is(err, windows.ERROR_IO_PENDING) {
			err = windows.GetOverlappedResult(h, &ov, &n, true)
		}
		select {
		case <-w.done:
			return
		default:
		}
		if errors.Is(err, windows.ERROR_OPERATION_ABORTED) {
			return // replaced by a newer watch of the same root
		}
		if err != nil {
			// The root was deleted or the handle failed: Add again later re-watches.
			w.emit(Event{Err: fmt.Errorf("watch %s: %w", root, err)})
			return
		}
		if n == 0 {
			// The system's buffer overflowed: changes were lost.
			if !w.emit(Event{Err: ErrOverflow}) {
				return
			}
			w.scan(root)
			continue
		}
		w.handle(root, buf[:n])
	}
}

func (w *rdcwWatcher) handle(root string, buf []byte) {
	parseRDCW(buf, func(r rdcwRecord) bool {
		if r.name == "" || !filepath.IsLocal(r.name) {
			return true // never a path out of the root
		}
		p := filepath.Join(root, r.name)
		switch r.action {
		case fileActionAdded, fileActionModified, fileActionRenamedNew:
			op := OpClosed
			if r.action == fileActionRenamedNew {
				op = OpMoved
			}
			if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
				if r.action != fileActionModified {
					w.scan(p) // a folder moved in brings files that raise no events
				}
			} else if !IsPartial(filepath.Base(p)) {
				w.mu.Lock()
				w.pending[p] = pendingFile{last: time.Now(), op: op}
				w.mu.Unlock()
			}
		}
		return true
	})
}

// settleLoop reports pending files once they have been quiet for settle.
func (w *rdcwWatcher) settleLoop() {
	defer w.wg.Done()
	t := time.NewTicker(settle / 3)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case now := <-t.C:
			var ready []Event
			w.mu.Lock()
			for p, pf := range w.pending {
				if now.Sub(pf.last) >= settle {
					ready = append(ready, Event{Path: p, Op: pf.op})
					delete(w.pending, p)
				}
			}
			w.mu.Unlock()
			for _, e := range ready {
				if strings.HasPrefix(filepath.Base(e.Path), ".carrel-restore-") {
					continue
				}
				if !w.emit(e) {
					return
				}
			}
		}
	}
}
