//go:build linux

package downloads

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"golang.org/x/sys/unix"
)

func newTestWatcher(t *testing.T, roots ...string) (*inotifyWatcher, *recorder) {
	t.Helper()
	w, err := NewWatcher(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	done := make(chan struct{})
	go func() { rec.drain(w.Events()); close(done) }()
	t.Cleanup(func() {
		w.Close()
		<-done
	})
	for _, r := range roots {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return w.(*inotifyWatcher), rec
}

// writeLikeBrowser writes data to final+".crdownload" in chunks, then renames it.
func writeLikeBrowser(t testing.TB, final string, data []byte) {
	t.Helper()
	part := final + ".crdownload"
	f, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), 16<<10)
		if _, err := f.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(part, final); err != nil {
		t.Fatal(err)
	}
}

func TestInotifyPartialIgnoredUntilRename(t *testing.T) {
	root := t.TempDir()
	_, rec := newTestWatcher(t, root)
	final := filepath.Join(root, "setup.exe")
	writeLikeBrowser(t, final, bytes.Repeat([]byte("MZ"), 50000))
	testbin.WaitFor(t, 5*time.Second, "moved event", func() bool { return rec.has(final) })
	for _, e := range rec.snapshot() {
		if e.Path == final+".crdownload" {
			t.Fatalf("partial download reported: %+v", e)
		}
		if e.Path == final && e.Op != OpMoved {
			t.Fatalf("final name reported as %s, want %s", e.Op, OpMoved)
		}
	}
}

func TestInotifyCloseWrite(t *testing.T) {
	root := t.TempDir()
	_, rec := newTestWatcher(t, root)
	p := filepath.Join(root, "notes.txt")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 5*time.Second, "close-write event", func() bool { return rec.has(p) })
}

func TestInotifyNewNestedDirectories(t *testing.T) {
	checkGoroutines(t)
	root := t.TempDir()
	_, rec := newTestWatcher(t, root)
	// Many fresh trees written into at once: some files land before the watch
	// on their directory does; the scan of the new directory must catch them.
	var want []string
	for i := range 20 {
		dir := filepath.Join(root, "d"+string(rune('a'+i)), "b", "c")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "tool.exe")
		if err := os.WriteFile(p, []byte("MZ payload"), 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	testbin.WaitFor(t, 10*time.Second, "every file in new directories", func() bool {
		for _, p := range want {
			if !rec.has(p) {
				return false
			}
		}
		return true
	})
	// And a file written into the deepest directory later is seen through its watch.
	late := filepath.Join(root, "da", "b", "c", "late.exe")
	if err := os.WriteFile(late, []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 5*time.Second, "late file", func() bool { return rec.has(late) })
}

func TestInotifyMovedInDirectoryIsScanned(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "pkg", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "pkg", "bin", "run.exe"), []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rec := newTestWatcher(t, root)
	if err := os.Rename(filepath.Join(outside, "pkg"), filepath.Join(root, "pkg")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "pkg", "bin", "run.exe")
	testbin.WaitFor(t, 5*time.Second, "file in moved-in directory", func() bool { return rec.has(p) })
}

func TestInotifyNeverFollowsSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "before.exe"), []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rec := newTestWatcher(t, root)
	if err := os.WriteFile(filepath.Join(outside, "after.exe"), []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink to a directory made after the watcher started is not followed either.
	if err := os.Symlink(outside, filepath.Join(root, "link2")); err != nil {
		t.Fatal(err)
	}
	sentinel := filepath.Join(root, "sentinel")
	if err := os.WriteFile(sentinel, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// inotify delivers in order: once the sentinel is in, anything earlier is too.
	testbin.WaitFor(t, 5*time.Second, "sentinel", func() bool { return rec.has(sentinel) })
	for _, e := range rec.snapshot() {
		if e.Path != sentinel {
			t.Errorf("unexpected event through a symlink: %+v", e)
		}
	}
	// A root that is itself a symlink is refused.
	w, _ := newTestWatcher(t)
	if err := w.Add(filepath.Join(root, "link")); err == nil {
		t.Error("Add of a symlink root succeeded")
	}
}

func TestInotifyScanOnAddAndRootRecreated(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "Downloads")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(root, "old.exe")
	if err := os.WriteFile(old, []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, rec := newTestWatcher(t, root)
	testbin.WaitFor(t, 5*time.Second, "existing file scanned", func() bool { return rec.has(old) })
	// Adding again while watched does nothing.
	if err := w.Add(root); err != nil {
		t.Fatal(err)
	}
	// The root is wiped and made again (a logout): Add watches it anew.
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 5*time.Second, "old watch dropped", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.wds) == 0
	})
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(root); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "new.exe")
	if err := os.WriteFile(p, []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 5*time.Second, "file in recreated root", func() bool { return rec.has(p) })
	if n := rec.count(old); n != 1 {
		t.Errorf("old.exe reported %d times, want 1 (second Add must not rescan)", n)
	}
}

func TestInotifyOverflowRescans(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "missed.exe")
	if err := os.WriteFile(p, []byte("MZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, rec := newTestWatcher(t, root)
	testbin.WaitFor(t, 5*time.Second, "initial scan", func() bool { return rec.has(p) })
	// The kernel's overflow record, as read(2) returns it.
	w.handle(inotifyBytes(-1, unix.IN_Q_OVERFLOW, ""))
	testbin.WaitFor(t, 5*time.Second, "rescan after overflow", func() bool { return rec.count(p) == 2 })
	var sawOverflow bool
	for _, e := range rec.snapshot() {
		if errors.Is(e.Err, ErrOverflow) {
			sawOverflow = true
		}
	}
	if !sawOverflow {
		t.Error("no ErrOverflow event")
	}
}

func TestIsPartial(t *testing.T) {
	for name, want := range map[string]bool{
		"a.crdownload": true, "A.PART": true, "x.download": true, "y.partial": true, "z.tmp": true,
		"setup.exe": false, "report.pdf": false, "part": false, "x.tmp.exe": false,
	} {
		if got := IsPartial(name); got != want {
			t.Errorf("IsPartial(%q) = %v, want %v", name, got, want)
		}
	}
}

// A session wipe renames the profile aside and makes a fresh one under the same
// name: Add must watch the new directory, and the old tree must not be
// reported under the new tree's paths.
func TestInotifyRootMovedAsideAndRecreated(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "alice")
	os.MkdirAll(filepath.Join(root, "Downloads"), 0o755)
	w, rec := newTestWatcher(t, root)
	trash := filepath.Join(parent, "trash-alice")
	if err := os.Rename(root, trash); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "Downloads"), 0o755)
	if err := w.Add(root); err != nil {
		t.Fatal(err)
	}
	// Written into the old tree: its watches are gone.
	os.WriteFile(filepath.Join(trash, "Downloads", "left.exe"), []byte("MZ"), 0o644)
	fresh := filepath.Join(root, "Downloads", "fresh.exe")
	os.WriteFile(fresh, []byte("MZ"), 0o644)
	testbin.WaitFor(t, 5*time.Second, "file in the new profile", func() bool { return rec.has(fresh) })
	if rec.has(filepath.Join(root, "Downloads", "left.exe")) {
		t.Error("a file in the moved-aside tree was reported under the new tree's path")
	}
	for _, e := range rec.snapshot() {
		if e.Err != nil {
			t.Errorf("error event %v", e.Err)
		}
	}
}

func inotifyBytes(wd int32, mask uint32, name string) []byte {
	n := (len(name) + 16) / 16 * 16 // NUL-padded like the kernel
	if name == "" {
		n = 0
	}
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

func TestParseInotify(t *testing.T) {
	buf := append(inotifyBytes(1, unix.IN_CLOSE_WRITE, "a.exe"), inotifyBytes(2, unix.IN_MOVED_TO, "longer-name.pdf")...)
	buf = append(buf, inotifyBytes(-1, unix.IN_Q_OVERFLOW, "")...)
	var got []inotifyRecord
	parseInotify(buf, func(r inotifyRecord) bool { got = append(got, r); return true })
	want := []inotifyRecord{{1, unix.IN_CLOSE_WRITE, "a.exe"}, {2, unix.IN_MOVED_TO, "longer-name.pdf"}, {-1, unix.IN_Q_OVERFLOW, ""}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// A record claiming more than the buffer holds ends the parse.
	bad := inotifyBytes(3, unix.IN_CLOSE_WRITE, "x")
	binary.NativeEndian.PutUint32(bad[12:], 1<<30)
	parseInotify(bad, func(r inotifyRecord) bool { t.Errorf("parsed %+v", r); return true })
}

// FuzzParseInotify: no buffer makes the parser panic or read past its end, and
// a name never carries a NUL.
func FuzzParseInotify(f *testing.F) {
	f.Add(inotifyBytes(1, unix.IN_CLOSE_WRITE, "a.exe"))
	f.Add(append(inotifyBytes(2, unix.IN_MOVED_TO|unix.IN_ISDIR, "dir"), inotifyBytes(-1, unix.IN_Q_OVERFLOW, "")...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		parseInotify(buf, func(r inotifyRecord) bool {
			if strings.ContainsRune(r.name, 0) || len(r.name) > len(buf) {
				t.Fatalf("bad record %+v", r)
			}
			return true
		})
	})
}
