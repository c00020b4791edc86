//go:build !windows

package downloads

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// fakeWatcher is a Watcher the test drives by hand.
type fakeWatcher struct {
	ch    chan Event
	mu    sync.Mutex
	added []string
	once  sync.Once
}

func (w *fakeWatcher) Add(root string) error {
	w.mu.Lock()
	w.added = append(w.added, root)
	w.mu.Unlock()
	return nil
}
func (w *fakeWatcher) Events() <-chan Event { return w.ch }
func (w *fakeWatcher) Close() error         { w.once.Do(func() { close(w.ch) }); return nil }

var _ Watcher = (*fakeWatcher)(nil)

// fakeClassifier returns a fixed result per base name.
type fakeClassifier struct {
	results map[string]classify.Result
	err     error
}

func (c fakeClassifier) Reader(name string, r io.ReaderAt, size int64, mode fs.FileMode) (classify.Result, error) {
	res, ok := c.results[filepath.Base(name)]
	if !ok {
		res = classify.Result{Verdict: classify.Allow}
	}
	return res, c.err
}

type fakeEnv struct {
	w    *fakeWatcher
	g    *Guard
	sink *eventrec.Recorder
	dir  string
	now  time.Time
	mu   sync.Mutex
}

func runFakeGuard(t *testing.T, cls Classifier) *fakeEnv {
	t.Helper()
	dir := t.TempDir()
	q, err := OpenQuarantine(filepath.Join(t.TempDir(), "q"))
	if err != nil {
		t.Fatal(err)
	}
	env := &fakeEnv{w: &fakeWatcher{ch: make(chan Event, 16)}, sink: &eventrec.Recorder{}, dir: dir, now: time.Unix(1_800_000_000, 0)}
	cfg := DefaultConfig()
	cfg.Roots = []string{dir}
	cfg.Exclude = []string{filepath.Join(dir, "cache")}
	cfg.RootsInterval = time.Hour
	env.g = newGuard(cfg, env.w, cls, q, env.sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	env.g.now = func() time.Time { env.mu.Lock(); defer env.mu.Unlock(); return env.now }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return env
}

func (e *fakeEnv) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

func TestGuardWatcherErrorsAreRateLimited(t *testing.T) {
	env := runFakeGuard(t, fakeClassifier{})
	boom := errors.New("add watch: no space left on device")
	for range 5 {
		env.w.ch <- Event{Err: boom}
	}
	testbin.WaitFor(t, 5*time.Second, "first watcher.error", func() bool { return len(env.sink.OfKind(protocol.EventWatcherError)) == 1 })
	env.advance(watcherErrorEvery)
	// A file event after the errors: once it is through, so are they.
	p := filepath.Join(env.dir, "x.exe")
	os.WriteFile(p, []byte("x"), 0o644)
	env.w.ch <- Event{Err: boom}
	testbin.WaitFor(t, 5*time.Second, "second watcher.error", func() bool { return len(env.sink.OfKind(protocol.EventWatcherError)) == 2 })
	evs := env.sink.OfKind(protocol.EventWatcherError)
	if evs[0].Sev != protocol.SeverityWarn || evs[0].Data["error"] != boom.Error() || evs[1].Data["suppressed"] != "4" {
		t.Errorf("events %+v", evs)
	}
}

func TestGuardFailsClosedOnClassifierError(t *testing.T) {
	env := runFakeGuard(t, fakeClassifier{err: errors.New("read: input/output error")})
	p := filepath.Join(env.dir, "report.pdf")
	os.WriteFile(p, []byte("%PDF-1.7"), 0o644)
	env.w.ch <- Event{Path: p, Op: OpClosed}
	testbin.WaitFor(t, 5*time.Second, "blocked", func() bool { return len(env.sink.OfKind(protocol.EventDownloadBlocked)) == 1 })
	ev := env.sink.OfKind(protocol.EventDownloadBlocked)[0]
	if ev.Data["sha256"] != sha([]byte("%PDF-1.7")) || ev.Data["id"] == "" {
		t.Errorf("event %+v", ev)
	}
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unreadable file not quarantined: %v", err)
	}
}

func TestGuardVerdicts(t *testing.T) {
	env := runFakeGuard(t, fakeClassifier{results: map[string]classify.Result{
		"tool.exe":  {Verdict: classify.Block, Reason: "Windows program", SHA256: sha([]byte("MZ")), Size: 2, Kind: "pe"},
		"macro.doc": {Verdict: classify.AllowNoExec, Reason: "macros", SHA256: sha([]byte("D0")), Size: 2},
		"cache.exe": {Verdict: classify.Block, Reason: "Windows program", SHA256: sha([]byte("MZ")), Size: 2},
	}})
	tool := filepath.Join(env.dir, "tool.exe")
	macro := filepath.Join(env.dir, "macro.doc")
	os.Mkdir(filepath.Join(env.dir, "cache"), 0o755)
	cached := filepath.Join(env.dir, "cache", "cache.exe")
	os.WriteFile(tool, []byte("MZ"), 0o644)
	os.WriteFile(macro, []byte("D0"), 0o755)
	os.WriteFile(cached, []byte("MZ"), 0o644)
	for _, p := range []string{cached, macro, tool, filepath.Join(env.dir, "gone.exe")} {
		env.w.ch <- Event{Path: p, Op: OpClosed}
	}
	testbin.WaitFor(t, 5*time.Second, "blocked and noexec", func() bool {
		return len(env.sink.OfKind(protocol.EventDownloadBlocked)) == 1 && len(env.sink.OfKind(protocol.EventDownloadNoExec)) == 1
	})
	if fi, err := os.Lstat(macro); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("allow-noexec file changed: %v %v", fi, err)
	}
	if _, err := os.Lstat(cached); err != nil {
		t.Errorf("excluded file touched: %v", err)
	}
	ne := env.sink.OfKind(protocol.EventDownloadNoExec)[0]
	if ne.Sev != protocol.SeverityInfo || ne.Data["name"] != "macro.doc" || ne.Data["reason"] != "macros" {
		t.Errorf("noexec event %+v", ne)
	}
	env.w.mu.Lock()
	added := env.w.added
	env.w.mu.Unlock()
	if len(added) != 1 || added[0] != env.dir {
		t.Errorf("roots added %v", added)
	}
}
