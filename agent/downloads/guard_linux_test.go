//go:build linux

package downloads

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"golang.org/x/sys/unix"

	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// spyClassifier wraps the real classifier and remembers every verdict by name,
// so a test knows when an allowed file (which raises no event) was judged.
type spyClassifier struct {
	real *classify.Classifier
	mu   sync.Mutex
	seen map[string]classify.Result
	n    map[string]int
}

func (s *spyClassifier) Reader(name string, r io.ReaderAt, size int64, mode fs.FileMode) (classify.Result, error) {
	res, err := s.real.Reader(name, r, size, mode)
	s.mu.Lock()
	s.seen[name] = res
	s.n[name]++
	s.mu.Unlock()
	return res, err
}

func (s *spyClassifier) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[name]
}

func (s *spyClassifier) judged(name string) (classify.Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.seen[name]
	return r, ok
}

type guardEnv struct {
	home string
	q    *Quarantine
	sink *eventrec.Recorder
	cls  *spyClassifier
	g    *Guard
}

// startGuard runs a guard with the real inotify watcher and the real classifier
// over roots home/*, and waits until the roots are watched.
func startGuard(t testing.TB, home string, sink EventSink) *guardEnv {
	t.Helper()
	return startGuardWith(t, home, sink, func(*Config) {})
}

func startGuardWith(t testing.TB, home string, sink EventSink, edit func(*Config)) *guardEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := OpenQuarantine(filepath.Join(t.TempDir(), "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Roots = []string{filepath.Join(home, "*")}
	cfg.Exclude = []string{filepath.Join(home, ".cache")}
	cfg.RootsInterval = time.Hour
	edit(&cfg)
	cls := &spyClassifier{real: classify.New(classify.DefaultConfig()), seen: map[string]classify.Result{}, n: map[string]int{}}
	g := newGuard(cfg, w, cls, q, sink, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
	})
	iw := w.(*inotifyWatcher)
	want := len(g.watchRoots())
	testbin.WaitFor(t, 5*time.Second, "roots watched", func() bool {
		iw.mu.Lock()
		defer iw.mu.Unlock()
		n := 0
		for _, rw := range iw.roots {
			if rw.wd >= 0 {
				n++
			}
		}
		return n == want
	})
	fs, _ := sink.(*eventrec.Recorder)
	return &guardEnv{home: home, q: q, sink: fs, cls: cls, g: g}
}

func TestGuardEndToEnd(t *testing.T) {
	checkGoroutines(t)
	home := t.TempDir()
	for _, d := range []string{"Downloads", "Desktop", ".cache"} {
		os.Mkdir(filepath.Join(home, d), 0o755)
	}
	// Present before the agent starts: found by the first scan.
	early := filepath.Join(home, "Desktop", "early.exe")
	os.WriteFile(early, pe(4096), 0o644)
	// In an excluded cache: never judged.
	cached := filepath.Join(home, ".cache", "blob.exe")
	os.WriteFile(cached, pe(100), 0o644)

	env := startGuard(t, home, &eventrec.Recorder{})

	// A browser download of a program: chunks into .crdownload, then rename.
	setup := filepath.Join(home, "Downloads", "setup.exe")
	setupData := pe(3 << 20)
	writeLikeBrowser(t, setup, setupData)
	if err := os.Chown(filepath.Join(home, "Downloads"), 0, 0); err != nil {
		t.Fatal(err)
	}

	// A browser download of a document, with origin xattrs set while partial.
	report := filepath.Join(home, "Downloads", "report.pdf")
	reportData := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("q 1 0 0 1 0 0 cm Q\n"), 20000)...)
	part := report + ".crdownload"
	os.WriteFile(part, reportData, 0o644)
	if err := unix.Setxattr(part, "user.xdg.origin.url", []byte("https://example.org/r.pdf"), 0); err != nil {
		t.Fatalf("setxattr (user xattrs needed on the test filesystem): %v", err)
	}
	if err := os.Rename(part, report); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Lstat(report)

	// Freshly made nested folders, written into at once.
	deep := filepath.Join(home, "Downloads", "a", "b", "c")
	os.MkdirAll(deep, 0o755)
	tool := filepath.Join(deep, "tool.exe")
	writeOwned(t, tool, pe(1000), 0o640, 1234, 5678)
	newDir := filepath.Join(home, "Desktop", "x", "y")
	os.MkdirAll(newDir, 0o755)
	notes := filepath.Join(newDir, "notes.pdf")
	writeLikeBrowser(t, notes, []byte("%PDF-1.4\nhello\n"))

	// A plain text file with the exec bit: allow-noexec, reported, untouched.
	script := filepath.Join(home, "Downloads", "readme.txt")
	os.WriteFile(script, []byte("just words\n"), 0o755)

	for _, p := range []string{early, setup, tool} {
		testbin.WaitFor(t, 10*time.Second, "quarantine of "+p, func() bool {
			_, err := os.Lstat(p)
			return errors.Is(err, os.ErrNotExist) && len(env.blockedEvent(filepath.Base(p))) == 1
		})
	}
	for _, p := range []string{report, notes, script} {
		testbin.WaitFor(t, 10*time.Second, "judgement of "+p, func() bool { _, ok := env.cls.judged(p); return ok })
	}
	testbin.WaitFor(t, 5*time.Second, "noexec event", func() bool { return len(env.sink.OfKind(protocol.EventDownloadNoExec)) == 1 })

	// Blocked files: a record that says exactly what was moved, and the content.
	recs, err := env.q.List()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Record{}
	for _, r := range recs {
		byPath[r.OriginalPath] = r
	}
	for _, c := range []struct {
		path     string
		data     []byte
		uid, gid int
		mode     uint32
	}{
		{setup, setupData, 0, 0, 0o644},
		{tool, pe(1000), 1234, 5678, 0o640},
		{early, pe(4096), 0, 0, 0o644},
	} {
		r, ok := byPath[c.path]
		if !ok {
			t.Errorf("no record for %s (records %+v)", c.path, recs)
			continue
		}
		if r.SHA256 != sha(c.data) || r.Size != int64(len(c.data)) || r.UID != c.uid || r.GID != c.gid || r.Mode != c.mode || r.Reason == "" || r.Kind != env.kindOf(c.path) {
			t.Errorf("record for %s: %+v", c.path, r)
		}
		blob, err := os.ReadFile(env.q.blobPath(r.SHA256))
		if err != nil || !bytes.Equal(blob, c.data) {
			t.Errorf("quarantined content of %s differs (err %v)", c.path, err)
		}
		ev := env.blockedEvent(filepath.Base(c.path))
		if len(ev) != 1 {
			t.Errorf("%d download.blocked events for %s", len(ev), c.path)
			continue
		}
		d := ev[0].Data
		if ev[0].Sev != protocol.SeverityAlert || d["sha256"] != r.SHA256 || d["reason"] != r.Reason || d["id"] != r.ID || d["size"] != itoa(len(c.data)) {
			t.Errorf("event for %s: %+v", c.path, ev[0])
		}
	}
	if len(recs) != 3 {
		t.Errorf("%d records, want 3: %+v", len(recs), recs)
	}

	// Allowed files: untouched — same bytes, inode, mtime, mode and xattrs.
	after, err := os.Lstat(report)
	if err != nil {
		t.Fatalf("allowed file gone: %v", err)
	}
	got, _ := os.ReadFile(report)
	if !bytes.Equal(got, reportData) {
		t.Error("allowed file content changed")
	}
	bs, as := before.Sys().(*syscall.Stat_t), after.Sys().(*syscall.Stat_t)
	if bs.Ino != as.Ino || bs.Mtim != as.Mtim || bs.Ctim != as.Ctim || before.Mode() != after.Mode() {
		t.Errorf("allowed file metadata changed: before %+v after %+v", bs, as)
	}
	buf := make([]byte, 256)
	n, err := unix.Getxattr(report, "user.xdg.origin.url", buf)
	if err != nil || string(buf[:n]) != "https://example.org/r.pdf" {
		t.Errorf("xattr lost: %q %v", buf[:n], err)
	}
	if b, _ := os.ReadFile(notes); string(b) != "%PDF-1.4\nhello\n" {
		t.Errorf("notes.pdf changed: %q", b)
	}
	if fi, _ := os.Lstat(script); fi == nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("allow-noexec file was changed: %v", fi)
	}
	ne := env.sink.OfKind(protocol.EventDownloadNoExec)[0]
	if ne.Data["name"] != "readme.txt" || ne.Data["sha256"] != sha([]byte("just words\n")) {
		t.Errorf("noexec event %+v", ne)
	}
	// Partial names and excluded caches are never judged.
	for _, p := range []string{setup + ".crdownload", report + ".crdownload", cached} {
		if _, ok := env.cls.judged(p); ok {
			t.Errorf("%s was judged", p)
		}
	}
	if _, err := os.Lstat(cached); err != nil {
		t.Errorf("excluded file touched: %v", err)
	}
	for _, e := range env.sink.All() {
		if e.Kind == protocol.EventWatcherError {
			t.Errorf("watcher error: %+v", e)
		}
	}
}

func TestGuardReleaseRoundTrip(t *testing.T) {
	checkGoroutines(t)
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "Downloads"), 0o755)
	env := startGuard(t, home, &eventrec.Recorder{})
	p := filepath.Join(home, "Downloads", "setup.exe")
	writeLikeBrowser(t, p, pe(5000))
	testbin.WaitFor(t, 10*time.Second, "blocked", func() bool { return len(env.blockedEvent("setup.exe")) == 1 })
	id := env.blockedEvent("setup.exe")[0].Data["id"]
	if _, err := env.g.ReleaseHandler()(context.Background(), map[string]string{"id": id}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, pe(5000)) {
		t.Error("released content differs")
	}
	if len(env.sink.OfKind(protocol.EventQuarantineReleased)) != 1 {
		t.Errorf("events %s", env.sink)
	}
	// The restored file raises its own events and is judged again; staff
	// released that content, so it stays.
	testbin.WaitFor(t, 10*time.Second, "re-judged after release", func() bool { return env.cls.count(p) >= 2 })
	if _, err := os.Lstat(p); err != nil {
		t.Fatalf("released file quarantined again: %v", err)
	}
	if n := len(env.blockedEvent("setup.exe")); n != 1 {
		t.Errorf("%d download.blocked events, want 1", n)
	}
	// Another copy of the released content elsewhere is allowed too; other
	// content still is not.
	copyPath := filepath.Join(home, "Downloads", "copy.exe")
	os.WriteFile(copyPath, pe(5000), 0o644)
	other := filepath.Join(home, "Downloads", "other.exe")
	os.WriteFile(other, pe(5001), 0o644)
	testbin.WaitFor(t, 10*time.Second, "other blocked", func() bool { return len(env.blockedEvent("other.exe")) == 1 })
	testbin.WaitFor(t, 10*time.Second, "copy judged", func() bool { return env.cls.count(copyPath) >= 1 })
	if _, err := os.Lstat(copyPath); err != nil {
		t.Errorf("copy of released content quarantined: %v", err)
	}
}

func (e *guardEnv) kindOf(p string) string {
	r, _ := e.cls.judged(p)
	return r.Kind
}

func (e *guardEnv) blockedEvent(name string) []eventrec.Event {
	var out []eventrec.Event
	for _, ev := range e.sink.OfKind(protocol.EventDownloadBlocked) {
		if ev.Data["name"] == name {
			out = append(out, ev)
		}
	}
	return out
}

func itoa(n int) string { return fmtInt(int64(n)) }

// writeOwned writes a file owned by uid:gid from its creation, as a patron's
// own process would.
func writeOwned(t testing.TB, path string, data []byte, mode os.FileMode, uid, gid int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Chown(uid, gid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A file still open for writing when a scan finds it is not judged (a read
// lease cannot be had); its close-write brings it back, complete.
func TestGuardWaitsForWriterToClose(t *testing.T) {
	home := t.TempDir()
	dl := filepath.Join(home, "Downloads")
	os.Mkdir(dl, 0o755)
	slow := filepath.Join(dl, "slow.exe")
	f, err := os.Create(slow)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := pe(100000)
	f.Write(data[:50000])

	env := startGuardWith(t, home, &eventrec.Recorder{}, func(c *Config) { c.Workers = 1 })
	// One worker judges in order: once the sentinel is done, the scan's event
	// for slow.exe has been handled.
	sentinel := filepath.Join(dl, "sentinel.exe")
	os.WriteFile(sentinel, pe(10), 0o644)
	testbin.WaitFor(t, 5*time.Second, "sentinel blocked", func() bool { return len(env.blockedEvent("sentinel.exe")) == 1 })
	if n := env.cls.count(slow); n != 0 {
		t.Fatalf("a file open for writing was judged %d times", n)
	}
	if _, err := os.Lstat(slow); err != nil {
		t.Fatalf("a file open for writing was moved: %v", err)
	}
	f.Write(data[50000:])
	f.Close()
	testbin.WaitFor(t, 5*time.Second, "slow.exe blocked after close", func() bool { return len(env.blockedEvent("slow.exe")) == 1 })
	ev := env.blockedEvent("slow.exe")[0]
	if ev.Data["size"] != "100000" || ev.Data["sha256"] != sha(data) {
		t.Errorf("judged incomplete content: %+v", ev.Data)
	}
}

// A symlink dressed as a download is never followed: the file it points to
// outside the roots is not read, moved or changed.
func TestGuardNeverFollowsSymlink(t *testing.T) {
	home := t.TempDir()
	dl := filepath.Join(home, "Downloads")
	os.Mkdir(dl, 0o755)
	canary := filepath.Join(t.TempDir(), "canary.exe")
	os.WriteFile(canary, pe(3000), 0o755)
	before, _ := os.Lstat(canary)

	env := startGuardWith(t, home, &eventrec.Recorder{}, func(c *Config) { c.Workers = 1 })
	part := filepath.Join(dl, "evil.exe.crdownload")
	if err := os.Symlink(canary, part); err != nil {
		t.Fatal(err)
	}
	evil := filepath.Join(dl, "evil.exe")
	if err := os.Rename(part, evil); err != nil { // IN_MOVED_TO of a symlink
		t.Fatal(err)
	}
	sentinel := filepath.Join(dl, "sentinel.exe")
	os.WriteFile(sentinel, pe(10), 0o644)
	testbin.WaitFor(t, 5*time.Second, "sentinel blocked", func() bool { return len(env.blockedEvent("sentinel.exe")) == 1 })

	if n := env.cls.count(evil); n != 0 {
		t.Errorf("symlink judged %d times", n)
	}
	if len(env.blockedEvent("evil.exe")) != 0 {
		t.Error("symlink reported as blocked")
	}
	after, err := os.Lstat(canary)
	if err != nil {
		t.Fatalf("canary gone: %v", err)
	}
	if b, _ := os.ReadFile(canary); !bytes.Equal(b, pe(3000)) || after.Mode() != before.Mode() ||
		after.Sys().(*syscall.Stat_t).Ino != before.Sys().(*syscall.Stat_t).Ino ||
		after.ModTime() != before.ModTime() {
		t.Error("canary changed")
	}
	if fi, err := os.Lstat(evil); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink itself was touched: %v %v", fi, err)
	}
}

// A blocked file that is a hard link to a file outside the roots: the patron's
// name is moved, the inode (shared with the outside name) is neither chowned
// nor chmod-ed.
func TestGuardHardLinkKeepsOtherName(t *testing.T) {
	home := t.TempDir()
	dl := filepath.Join(home, "Downloads")
	os.Mkdir(dl, 0o755)
	outside := filepath.Join(t.TempDir(), "tool.bin")
	writeOwned(t, outside, pe(500), 0o750, 1234, 5678)
	link := filepath.Join(dl, "tool.exe")
	if err := os.Link(outside, link); err != nil {
		t.Fatal(err)
	}
	env := startGuard(t, home, &eventrec.Recorder{}) // found by the first scan
	testbin.WaitFor(t, 5*time.Second, "blocked", func() bool { return len(env.blockedEvent("tool.exe")) == 1 })
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("patron's name still there: %v", err)
	}
	fi, err := os.Lstat(outside)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o750 || st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("the other name's inode changed: mode %v owner %d:%d", fi.Mode(), st.Uid, st.Gid)
	}
}
