//go:build linux

package execguard

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fanotifyGroup answers FAN_OPEN_EXEC_PERM for the mounts of the roots: deny
// under a root, allow everything else. It runs only inside the helper process
// (see HelperMain), never in the agent: a Go process that answers permission
// events for execs must never fork, or a garbage-collection stop-the-world that
// begins while its own vfork()ed child waits in execve for the answer freezes
// both (found by BenchmarkExecOnMarkedMount, 2026-11). The forked child would
// also inherit the group's descriptor and keep it alive if the agent died.
type fanotifyGroup struct {
	file *os.File // the fanotify descriptor, read through the runtime poller
	fd   int

	roots   atomic.Pointer[rootSet] // read on the decision path, swapped by mark
	reports chan denial             // decision path → reporter, never blocks
	dropped atomic.Uint64           // denials not reported because reports was full

	mu     sync.Mutex      // protects marked
	marked map[string]bool // roots whose mounts are marked
}

// denial is one denied exec, reported off the decision path.
type denial struct {
	Path string `json:"path"`
	PID  int32  `json:"pid"`
}

func newFanotifyGroup() (*fanotifyGroup, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify init: %w", err)
	}
	g := &fanotifyGroup{
		file: os.NewFile(uintptr(fd), "fanotify"), fd: fd,
		reports: make(chan denial, 256), marked: map[string]bool{},
	}
	g.roots.Store(newRootSet(nil))
	return g, nil
}

// mark marks the filesystems holding the roots (a mark covers a whole
// filesystem, so the decision still checks the path) and swaps in the new
// root set. A filesystem mark, not a mount mark: the service runs in a mount
// namespace of its own (its unit's Protect*= settings make one), whose mounts
// are copies; a mount mark would cover only execs through the service's
// copies, never a patron's (found by the self-test in a booted container,
// 2026-12). Where a filesystem mark is refused, the mount is marked instead.
func (g *fanotifyGroup) mark(roots []string) error {
	set := newRootSet(roots)
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, r := range set.roots {
		if g.marked[r] {
			continue
		}
		err := unix.FanotifyMark(g.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM,
			unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, r)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENODEV) {
			err = unix.FanotifyMark(g.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT,
				unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("fanotify mark %s: %w", r, err))
			continue
		}
		g.marked[r] = true
	}
	// Swapped even if a mark failed: a root whose mount is not marked is still
	// covered by the process watcher.
	g.roots.Store(set)
	return errors.Join(errs...)
}

// loop is the decision path. It returns when the descriptor is closed.
func (g *fanotifyGroup) loop() error {
	buf := make([]byte, 64*unix.FAN_EVENT_METADATA_LEN)
	link := make([]byte, unix.PathMax)
	fdPath := []byte("/proc/self/fd/")
	base := len(fdPath)
	for {
		n, err := g.file.Read(buf)
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
			if ln, err := readlinkBytes(fdPath, link); err == nil {
				path := bytes.TrimSuffix(link[:ln], []byte(" (deleted)"))
				if g.roots.Load().containsBytes(path) {
					resp = unix.FAN_DENY
					select {
					case g.reports <- denial{Path: string(path), PID: m.Pid}:
					default:
						g.dropped.Add(1)
					}
				}
			}
			r := unix.FanotifyResponse{Fd: m.Fd, Response: resp}
			_, werr := g.file.Write((*[unsafe.Sizeof(r)]byte)(unsafe.Pointer(&r))[:])
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
