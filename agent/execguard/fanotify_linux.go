//go:build linux

package execguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// fanotifyEnforcer answers FAN_OPEN_EXEC_PERM for the mounts of the roots:
// deny under a root, allow everything else.
type fanotifyEnforcer struct {
	log  *slog.Logger
	sink EventSink
	fd   int
	file *os.File // the fanotify descriptor, read through the runtime poller

	roots   atomic.Pointer[rootSet] // read on the decision path, swapped by Apply
	reports chan denial             // decision path → reporter, never blocks
	dropped atomic.Uint64           // denials not reported because reports was full

	mu     sync.Mutex      // protects marked
	marked map[string]bool // roots whose mounts are marked
}

// denial is one denied exec, reported off the decision path.
type denial struct {
	path string
	pid  int32
}

var _ Enforcer = (*fanotifyEnforcer)(nil)

// NewEnforcer opens a fanotify group for permission events. It needs
// CAP_SYS_ADMIN.
func NewEnforcer(sink EventSink, log *slog.Logger) (Enforcer, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify init: %w", err)
	}
	e := &fanotifyEnforcer{
		log: log, sink: sink, fd: fd,
		file:    os.NewFile(uintptr(fd), "fanotify"),
		reports: make(chan denial, 256),
		marked:  map[string]bool{},
	}
	e.roots.Store(newRootSet(nil))
	return e, nil
}

// Apply marks the mounts holding the roots (a mark covers a whole mount, so
// the decision still checks the path) and swaps in the new root set.
func (e *fanotifyEnforcer) Apply(roots []string) error {
	set := newRootSet(roots)
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, r := range set.roots {
		if e.marked[r] {
			continue
		}
		if err := unix.FanotifyMark(e.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT,
			unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, r); err != nil {
			errs = append(errs, fmt.Errorf("fanotify mark %s: %w", r, err))
			continue
		}
		e.marked[r] = true
	}
	// Swapped even if a mark failed: a root whose mount is not marked is still
	// covered by the process watcher.
	e.roots.Store(set)
	return errors.Join(errs...)
}

// Remove does nothing: fanotify marks go with the descriptor.
func (e *fanotifyEnforcer) Remove() error { return nil }

// Run answers permission events until ctx is done, then closes the group; the
// kernel allows whatever was still waiting.
func (e *fanotifyEnforcer) Run(ctx context.Context) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.report(done)
	}()
	stop := context.AfterFunc(ctx, func() { e.file.Close() })
	defer stop()
	err := e.loop()
	close(done)
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	e.file.Close()
	return err
}

// loop is the decision path.
func (e *fanotifyEnforcer) loop() error {
	buf := make([]byte, 64*unix.FAN_EVENT_METADATA_LEN)
	link := make([]byte, unix.PathMax)
	fdPath := []byte("/proc/self/fd/")
	base := len(fdPath)
	for {
		n, err := e.file.Read(buf)
		if err != nil {
			return fmt.Errorf("read fanotify: %w", err)
		}
		for off := 0; off+unix.FAN_EVENT_METADATA_LEN <= n; {
			m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
			if m.Vers != unix.FANOTIFY_METADATA_VERSION {
				return fmt.Errorf("fanotify metadata version %d, want %d", m.Vers, unix.FANOTIFY_METADATA_VERSION)
			}
			if m.Event_len < unix.FAN_EVENT_METADATA_LEN {
				return fmt.Errorf("fanotify event length %d", m.Event_len)
			}
			off += int(m.Event_len)
			if m.Fd < 0 {
				continue // FAN_NOFD: a queue overflow notice
			}
			resp := uint32(unix.FAN_ALLOW)
			fdPath = strconv.AppendInt(fdPath[:base], int64(m.Fd), 10)
			ln, lerr := readlinkBytes(fdPath, link)
			if lerr == nil {
				path := bytes.TrimSuffix(link[:ln], []byte(" (deleted)"))
				if e.roots.Load().containsBytes(path) {
					resp = unix.FAN_DENY
					select {
					case e.reports <- denial{path: string(path), pid: m.Pid}:
					default:
						e.dropped.Add(1)
					}
				}
			}
			r := unix.FanotifyResponse{Fd: m.Fd, Response: resp}
			_, werr := e.file.Write((*[unsafe.Sizeof(r)]byte)(unsafe.Pointer(&r))[:])
			unix.Close(int(m.Fd))
			if werr != nil {
				return fmt.Errorf("answer fanotify: %w", werr)
			}
		}
	}
}

// readlinkBytes is readlink(2) on a NUL-less byte path without allocating.
func readlinkBytes(path, buf []byte) (int, error) {
	var p [64]byte
	if len(path) >= len(p) {
		return 0, unix.ENAMETOOLONG
	}
	copy(p[:], path)
	cwd := unix.AT_FDCWD
	n, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(cwd),
		uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// report sends exec.blocked for denials, at most one per path every 10s so a
// patron double-clicking does not flood the hub.
func (e *fanotifyEnforcer) report(done <-chan struct{}) {
	last := map[string]time.Time{}
	for {
		select {
		case <-done:
			return
		case d := <-e.reports:
			now := time.Now()
			if t, ok := last[d.path]; ok && now.Sub(t) < 10*time.Second {
				continue
			}
			last[d.path] = now
			if len(last) > 1024 {
				clear(last)
			}
			data := map[string]string{"path": d.path, "name": baseName(d.path), "pid": strconv.Itoa(int(d.pid))}
			if n := e.dropped.Swap(0); n > 0 {
				data["dropped"] = strconv.FormatUint(n, 10)
			}
			e.log.Info("Exec denied", "path", d.path, "pid", d.pid)
			if err := e.sink.Emit(KindBlocked, protocol.SeverityAlert, data); err != nil {
				e.log.Error("Report denied exec", "err", err)
			}
		}
	}
}
