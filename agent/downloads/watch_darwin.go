//go:build darwin

package downloads

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"
)

// MaxDepth is how many directory levels below a root the watcher follows.
const MaxDepth = 64

// Directory notes: an entry was added, removed or renamed (WRITE, LINK), or the
// directory itself went away (DELETE, RENAME, REVOKE: the rescan finds out).
const dirNotes = unix.NOTE_WRITE | unix.NOTE_EXTEND | unix.NOTE_LINK |
	unix.NOTE_DELETE | unix.NOTE_RENAME | unix.NOTE_REVOKE

// File notes: the content or times changed, or the name went away.
const fileNotes = unix.NOTE_WRITE | unix.NOTE_EXTEND | unix.NOTE_ATTRIB |
	unix.NOTE_DELETE | unix.NOTE_RENAME | unix.NOTE_REVOKE

// kqueueNotifier is the notifier of the macOS watcher: an EVFILT_VNODE filter
// per watched directory and per file still settling.
type kqueueNotifier struct {
	kq   int
	sink *rescanWatcher
	wg   sync.WaitGroup

	mu     sync.Mutex // protects byFD and byPath
	byFD   map[int]watchKey
	byPath map[watchKey]int
}

type watchKey struct {
	path string
	dir  bool
}

var _ notifier = (*kqueueNotifier)(nil)

// NewWatcher starts a kqueue watcher with no roots (see rescan.go).
func NewWatcher(log *slog.Logger) (Watcher, error) {
	return newKqueueWatcher(defaultRescan, log)
}

func newKqueueWatcher(cfg rescanConfig, log *slog.Logger) (*rescanWatcher, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("kqueue: %w", err)
	}
	unix.CloseOnExec(kq)
	// Close triggers this user event to end the reader.
	wake := unix.Kevent_t{Ident: 0, Filter: unix.EVFILT_USER, Flags: unix.EV_ADD | unix.EV_CLEAR}
	if _, err := unix.Kevent(kq, []unix.Kevent_t{wake}, nil, nil); err != nil {
		unix.Close(kq)
		return nil, fmt.Errorf("kqueue: %w", err)
	}
	k := &kqueueNotifier{kq: kq, byFD: map[int]watchKey{}, byPath: map[watchKey]int{}}
	w := newRescanWatcher(cfg, k, log)
	k.sink = w
	k.wg.Add(1)
	go k.read()
	return w, nil
}

func (k *kqueueNotifier) watch(path string, id fileID, dir bool) error {
	flags, notes := unix.O_EVTONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, uint32(fileNotes)
	if dir {
		flags, notes = flags|unix.O_DIRECTORY, dirNotes
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || statID(&st) != id {
		unix.Close(fd)
		return errors.New("replaced before it was watched")
	}
	key := watchKey{path, dir}
	k.unwatch(path, dir) // never two descriptors for one key
	k.mu.Lock()
	k.byFD[fd], k.byPath[key] = key, fd
	k.mu.Unlock()
	var ev unix.Kevent_t
	unix.SetKevent(&ev, fd, unix.EVFILT_VNODE, unix.EV_ADD|unix.EV_CLEAR)
	ev.Fflags = notes
	if _, err := unix.Kevent(k.kq, []unix.Kevent_t{ev}, nil, nil); err != nil {
		k.unwatch(path, dir)
		return err
	}
	return nil
}

// unwatch closes the descriptor, which removes its filter from the kqueue.
func (k *kqueueNotifier) unwatch(path string, dir bool) {
	key := watchKey{path, dir}
	k.mu.Lock()
	fd, ok := k.byPath[key]
	if ok {
		delete(k.byPath, key)
		delete(k.byFD, fd)
	}
	k.mu.Unlock()
	if ok {
		unix.Close(fd)
	}
}

// read passes notes on until Close triggers the user event.
func (k *kqueueNotifier) read() {
	defer k.wg.Done()
	evs := make([]unix.Kevent_t, 256)
	for {
		n, err := unix.Kevent(k.kq, nil, evs, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			k.sink.fail(fmt.Errorf("read kqueue: %w", err))
			return
		}
		for _, ev := range evs[:n] {
			if ev.Filter == unix.EVFILT_USER {
				return
			}
			k.mu.Lock()
			key, ok := k.byFD[int(ev.Ident)]
			k.mu.Unlock()
			switch {
			case !ok: // unwatched since
			case key.dir:
				k.sink.dirChanged(key.path)
			default:
				k.sink.fileChanged(key.path)
			}
		}
	}
}

// close ends the reader, then closes every watch and the kqueue. The
// watcher's loop has ended: nothing watches or unwatches any more.
func (k *kqueueNotifier) close() error {
	trigger := unix.Kevent_t{Ident: 0, Filter: unix.EVFILT_USER, Fflags: unix.NOTE_TRIGGER}
	if _, err := unix.Kevent(k.kq, []unix.Kevent_t{trigger}, nil, nil); err == nil {
		k.wg.Wait()
	}
	k.mu.Lock()
	for fd := range k.byFD {
		unix.Close(fd)
	}
	clear(k.byFD)
	clear(k.byPath)
	k.mu.Unlock()
	return unix.Close(k.kq)
}
