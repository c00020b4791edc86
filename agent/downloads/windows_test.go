//go:build windows

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
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// These run under Wine (.ci/wine/gotest.sh) and on real Windows. Wine gaps
// (2026-11): no NTFS alternate data streams, so Zone.Identifier survival is
// not tested here; os.RemoveAll fails, hence tempDir instead of t.TempDir.
// Wine implements ReadDirectoryChangesW on top of inotify; these tests are
// where its behaviour is checked.

func tempDir(t testing.TB) string { return winetest.TempDir(t) }

func writeLikeBrowserWin(t testing.TB, final string, data []byte) {
	t.Helper()
	part := final + ".crdownload"
	f, err := os.Create(part)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), 16<<10)
		f.Write(data[:n])
		data = data[n:]
	}
	f.Close()
	if err := os.Rename(part, final); err != nil {
		t.Fatal(err)
	}
}

func TestRDCWWatcher(t *testing.T) {
	root := tempDir(t)
	old := filepath.Join(root, "old.exe")
	os.WriteFile(old, []byte("MZ"), 0o644)
	w, err := NewWatcher(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	done := make(chan struct{})
	go func() { rec.drain(w.Events()); close(done) }()
	defer func() { w.Close(); <-done }()
	if err := w.Add(root); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 5*time.Second, "scan of existing file", func() bool { return rec.has(old) })

	final := filepath.Join(root, "setup.exe")
	writeLikeBrowserWin(t, final, bytes.Repeat([]byte("MZ"), 40000))
	deep := filepath.Join(root, "a", "b", "c")
	os.MkdirAll(deep, 0o755)
	tool := filepath.Join(deep, "tool.exe")
	os.WriteFile(tool, []byte("MZ"), 0o644)
	testbin.WaitFor(t, 10*time.Second, "renamed download", func() bool { return rec.has(final) })
	testbin.WaitFor(t, 10*time.Second, "file in new nested folder", func() bool { return rec.has(tool) })
	for _, e := range rec.snapshot() {
		if e.Path == final+".crdownload" {
			t.Errorf("partial download reported: %+v", e)
		}
	}
}

type winSpy struct{ real *classify.Classifier }

func (s winSpy) Reader(name string, r io.ReaderAt, size int64, mode fs.FileMode) (classify.Result, error) {
	return s.real.Reader(name, r, size, mode)
}

func TestGuardWindows(t *testing.T) {
	home := tempDir(t)
	dl := filepath.Join(home, "Downloads")
	os.Mkdir(dl, 0o755)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	q, err := OpenQuarantine(filepath.Join(tempDir(t), "q"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Roots = []string{filepath.Join(home, "*")}
	cfg.Exclude = nil
	cfg.RootsInterval = time.Hour
	sink := &eventrec.Recorder{}
	g := newGuard(cfg, w, winSpy{classify.New(classify.DefaultConfig())}, q, sink, log)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- g.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	// The roots are added by Run; a file present at start proves the scan ran.
	marker := filepath.Join(dl, "marker.exe")
	os.WriteFile(marker, pe(100), 0o644)
	defer func() {
		if t.Failed() {
			t.Logf("events: %s", sink)
		}
	}()
	testbin.WaitFor(t, 10*time.Second, "marker quarantined", func() bool {
		_, err := os.Lstat(marker)
		return errors.Is(err, os.ErrNotExist)
	})

	setup := filepath.Join(dl, "setup.exe")
	data := pe(200000)
	writeLikeBrowserWin(t, setup, data)
	report := filepath.Join(dl, "report.pdf")
	writeLikeBrowserWin(t, report, []byte("%PDF-1.7\nhello\n"))
	testbin.WaitFor(t, 10*time.Second, "setup.exe blocked", func() bool {
		for _, e := range sink.OfKind(protocol.EventDownloadBlocked) {
			if e.Data["name"] == "setup.exe" && e.Data["id"] != "" {
				return true
			}
		}
		return false
	})
	if _, err := os.Lstat(setup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("setup.exe still in Downloads: %v", err)
	}
	var rec Record
	for _, e := range sink.OfKind(protocol.EventDownloadBlocked) {
		if e.Data["name"] == "setup.exe" {
			rec, err = q.Get(e.Data["id"])
		}
	}
	if err != nil || rec.OriginalPath != setup || rec.SHA256 != sha(data) || rec.UID != -1 {
		t.Fatalf("record %+v, %v", rec, err)
	}
	if b, _ := os.ReadFile(report); string(b) != "%PDF-1.7\nhello\n" {
		t.Errorf("allowed file changed: %q", b)
	}
	if _, err := g.ReleaseHandler()(context.Background(), map[string]string{"id": rec.ID}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(setup); !bytes.Equal(b, data) {
		t.Error("released content differs")
	}
	if _, err := q.Release(rec.ID); !errors.Is(err, ErrNoRecord) {
		t.Errorf("second release: %v", err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
