//go:build linux

package browserpolicy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

func platformDownloadDirs() (chromium, firefox string) {
	return "${user_home}/Downloads", "${home}/Downloads"
}

// chromiumManagedDirs are the managed-policy directories of the deb/rpm builds.
var chromiumManagedDirs = map[string]string{
	Chrome:   "/etc/opt/chrome/policies/managed",
	Edge:     "/etc/opt/edge/policies/managed",
	Chromium: "/etc/chromium/policies/managed",
}

// firefoxSystemDirs are read by Firefox builds with system policies (Debian,
// Ubuntu's snap, Mozilla's own builds): they win over the distribution directory.
var firefoxSystemDirs = []string{"/etc/firefox/policies", "/etc/firefox-esr/policies"}

// firefoxInstallDirs are known install paths; Carrel writes their
// distribution/policies.json when the install path exists.
var firefoxInstallDirs = []string{"/usr/lib/firefox", "/usr/lib/firefox-esr", "/usr/lib64/firefox", "/opt/firefox"}

func (m *Manager) path(p string) string { return filepath.Join(m.root, p) }

func (m *Manager) platformTargets() ([]target, error) {
	var ts []target
	for _, b := range []string{Chrome, Edge, Chromium} {
		if m.cfg.manages(b) {
			ts = append(ts, &fileTarget{
				browser: b,
				path:    m.path(filepath.Join(chromiumManagedDirs[b], "carrel.json")),
				content: encodeChromiumJSON(chromiumPolicy(m.cfg, b)),
			})
		}
	}
	if !m.cfg.manages(Firefox) {
		return ts, nil
	}
	content := encodeFirefoxJSON(firefoxPolicy(m.cfg))
	ff := func(path string) *fileTarget {
		return &fileTarget{
			browser: Firefox, path: path, content: content,
			inspect: inspectFirefoxJSON, takeOver: m.cfg.TakeOverFirefox, setting: "take_over_firefox",
			owned: m.owned,
		}
	}
	for _, d := range firefoxSystemDirs {
		ts = append(ts, ff(m.path(filepath.Join(d, "policies.json"))))
	}
	for _, d := range firefoxInstallDirs {
		if fi, err := os.Stat(m.path(d)); err == nil && fi.IsDir() {
			ts = append(ts, ff(m.path(filepath.Join(d, "distribution", "policies.json"))))
		}
	}
	return ts, nil
}

// inotifyNotifier watches the directories holding the policy files.
type inotifyNotifier struct {
	file *os.File // the inotify descriptor, non-blocking, read through the poller
	c    chan struct{}
	done chan struct{}
	// wds is the watch descriptor of each directory after the last Watch (nil
	// before the first); only Watch uses it, and the Manager calls Watch from
	// one goroutine.
	wds map[string]int

	mu     sync.Mutex // guards closed, so that Watch never sends on a closed c
	closed bool
}

var _ notifier = (*inotifyNotifier)(nil)

const inotifyMask = unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CREATE |
	unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
	unix.IN_ONLYDIR

func newNotifier(*Manager) (notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify init: %w", err)
	}
	n := &inotifyNotifier{
		file: os.NewFile(uintptr(fd), "inotify"),
		c:    make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go n.read()
	return n, nil
}

func (n *inotifyNotifier) C() <-chan struct{} { return n.c }

// Watch adds a watch on the directory of every target. Adding one again is
// cheap and re-arms a directory that was deleted and created again. A
// directory newly watched since the last Watch (created again by the re-check
// that came before) wakes the Manager once more: what changed in it between
// that re-check's write and this watch raised no event.
func (n *inotifyNotifier) Watch(targets []target) error {
	rc, err := n.file.SyscallConn()
	if err != nil {
		return err
	}
	first := n.wds == nil
	wds := make(map[string]int, len(targets))
	rearmed := false
	var errs []error
	for _, t := range targets {
		dir := filepath.Dir(t.Location())
		var wd int
		var werr error
		if err := rc.Control(func(fd uintptr) {
			wd, werr = unix.InotifyAddWatch(int(fd), dir, inotifyMask)
		}); err != nil {
			return err
		}
		if werr != nil {
			if !errors.Is(werr, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("inotify watch %s: %w", dir, werr))
			}
			continue
		}
		wds[dir] = wd
		if old, ok := n.wds[dir]; !first && (!ok || old != wd) {
			rearmed = true
		}
	}
	n.wds = wds
	if rearmed {
		n.mu.Lock()
		if !n.closed {
			n.wake()
		}
		n.mu.Unlock()
	}
	return errors.Join(errs...)
}

// wake sends one coalesced wake-up.
func (n *inotifyNotifier) wake() {
	select {
	case n.c <- struct{}{}:
	default:
	}
}

// read turns any event into one coalesced wake-up; what changed is found out by
// re-checking every location, so the events themselves are not parsed.
func (n *inotifyNotifier) read() {
	defer close(n.done)
	defer func() {
		n.mu.Lock()
		n.closed = true
		close(n.c)
		n.mu.Unlock()
	}()
	buf := make([]byte, 64<<10)
	for {
		if _, err := n.file.Read(buf); err != nil {
			return // closed, or inotify broke: the Manager falls back on the interval
		}
		n.wake()
	}
}

func (n *inotifyNotifier) Close() error {
	err := n.file.Close()
	<-n.done
	return err
}
