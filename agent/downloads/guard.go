package downloads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Classifier judges a file's content and name. *classify.Classifier is one.
// The guard passes the file it holds open (never re-opened by path), so what is
// judged is what is moved.
type Classifier interface {
	Reader(name string, r io.ReaderAt, size int64, mode fs.FileMode) (classify.Result, error)
}

var _ Classifier = (*classify.Classifier)(nil)

// watcherErrorEvery limits watcher.error events; the rest are counted.
const watcherErrorEvery = 10 * time.Second

// Guard is the file guard: watcher → classifier → quarantine → events.
type Guard struct {
	cfg     Config
	watcher Watcher
	cls     Classifier
	q       *Quarantine
	sink    EventSink
	log     *slog.Logger
	now     func() time.Time

	pauseMu sync.Mutex          // protects paused and missed
	paused  bool                // a maintenance window: files are not judged
	missed  map[string]struct{} // files seen while paused, judged at re-arming

	errMu      sync.Mutex // protects lastErr and suppressed
	lastErr    time.Time
	suppressed int
}

// New makes the guard with the OS's watcher and the quarantine at
// cfg.QuarantineDir (created private, or refused if it is not).
func New(cfg Config, cls Classifier, sink EventSink, log *slog.Logger) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.QuarantineDir), 0o755); err != nil {
		return nil, fmt.Errorf("open quarantine: %w", err)
	}
	q, err := OpenQuarantine(cfg.QuarantineDir)
	if err != nil {
		return nil, err
	}
	w, err := NewWatcher(log)
	if err != nil {
		return nil, err
	}
	return newGuard(cfg, w, cls, q, sink, log), nil
}

func newGuard(cfg Config, w Watcher, cls Classifier, q *Quarantine, sink EventSink, log *slog.Logger) *Guard {
	return &Guard{cfg: cfg, watcher: w, cls: cls, q: q, sink: sink, log: log, now: time.Now}
}

// Quarantine returns the guard's quarantine (List, Get, Release).
func (g *Guard) Quarantine() *Quarantine { return g.q }

// ReleaseHandler is the handler for protocol.ActionReleaseQuarantine.
func (g *Guard) ReleaseHandler() protocol.CommandHandler {
	return g.q.ReleaseHandler(g.sink)
}

// Run watches and judges until ctx is done, then closes the watcher. It
// returns nil on cancellation.
func (g *Guard) Run(ctx context.Context) error {
	eg, ctx := errgroup.WithContext(ctx)
	work := make([]chan string, g.cfg.Workers)
	for i := range work {
		work[i] = make(chan string, 256)
		ch := work[i]
		eg.Go(func() error {
			for p := range ch {
				if ctx.Err() != nil {
					continue // stopping: drain without judging, Stop must be quick
				}
				g.judge(p)
			}
			return nil
		})
	}
	// Dispatch: one path always goes to the same worker, so a file is never
	// judged twice at once.
	eg.Go(func() error {
		defer func() {
			for _, ch := range work {
				close(ch)
			}
		}()
		for e := range g.watcher.Events() {
			if e.Err != nil {
				g.watcherError(e.Err)
				continue
			}
			if g.excluded(e.Path) {
				continue
			}
			h := fnv.New32a()
			h.Write([]byte(e.Path))
			work[h.Sum32()%uint32(len(work))] <- e.Path
		}
		return nil
	})
	eg.Go(func() error {
		t := time.NewTicker(g.cfg.RootsInterval)
		defer t.Stop()
		for {
			g.addRoots()
			select {
			case <-ctx.Done():
				return g.watcher.Close()
			case <-t.C:
			}
		}
	})
	return eg.Wait()
}

// Roots returns the directories the root patterns match now, without the
// quarantine.
func (g *Guard) Roots() []string {
	pats := g.cfg.Roots
	roots := ExpandRoots(pats)
	if g.cfg.RemovableDrives {
		roots = append(roots, removableRoots()...)
	}
	return roots
}

// watchRoots is Roots without those that are wholly excluded.
func (g *Guard) watchRoots() []string {
	var out []string
	for _, r := range g.Roots() {
		if !g.excluded(filepath.Join(r, "x")) || Under(g.q.Dir(), r) {
			out = append(out, r)
		}
	}
	return out
}

func (g *Guard) addRoots() {
	for _, r := range g.watchRoots() {
		if Under(g.q.Dir(), r) {
			// Events under the quarantine are dropped by excluded: judging
			// quarantined files would loop.
			g.log.Warn("Quarantine lies inside a watched root", "root", r, "quarantine", g.q.Dir())
		}
		if err := g.watcher.Add(r); err != nil {
			g.watcherError(err)
		}
	}
}

func (g *Guard) excluded(p string) bool {
	if Under(p, g.q.Dir()) {
		return true
	}
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		for _, pat := range g.cfg.Exclude {
			if ok, _ := filepath.Match(pat, dir); ok {
				return true
			}
		}
		if parent := filepath.Dir(dir); parent == dir {
			return false
		}
	}
}

func (g *Guard) watcherError(err error) {
	g.errMu.Lock()
	now := g.now()
	if !g.lastErr.IsZero() && now.Sub(g.lastErr) < watcherErrorEvery {
		g.suppressed++
		g.errMu.Unlock()
		g.log.Debug("File watcher error", "err", err)
		return
	}
	suppressed := g.suppressed
	g.lastErr, g.suppressed = now, 0
	g.errMu.Unlock()
	g.log.Warn("File watcher error", "err", err)
	data := map[string]string{protocol.DataError: protocol.Clip(err.Error(), protocol.MaxText)}
	if suppressed > 0 {
		data[protocol.DataSuppressed] = strconv.Itoa(suppressed)
	}
	if err := g.sink.Emit(protocol.EventWatcherError, protocol.SeverityWarn, data); err != nil {
		g.log.Error("Report watcher error", "err", err)
	}
}

// maxMissed bounds the files remembered during a maintenance window.
const maxMissed = 10000

// SetPaused pauses the guard for a maintenance window (files are not judged,
// their paths are remembered) or re-arms it: every file that arrived during
// the window is judged then, so what IT left in a patron folder is
// quarantined as if it had just arrived. A restart re-arms the guard (the
// remembered paths are not kept; such a file is judged at its next change).
func (g *Guard) SetPaused(paused bool) {
	g.pauseMu.Lock()
	was := g.paused
	g.paused = paused
	var missed []string
	if was && !paused {
		for p := range g.missed {
			missed = append(missed, p)
		}
		g.missed = nil
	}
	g.pauseMu.Unlock()
	for _, p := range missed {
		g.judge(p)
	}
}

// held says whether the guard is paused, and remembers path if so.
func (g *Guard) held(path string) bool {
	g.pauseMu.Lock()
	defer g.pauseMu.Unlock()
	if !g.paused {
		return false
	}
	if g.missed == nil {
		g.missed = map[string]struct{}{}
	}
	if len(g.missed) < maxMissed {
		g.missed[path] = struct{}{}
	}
	return true
}

// judge classifies one file and acts on the verdict.
func (g *Guard) judge(path string) {
	if g.held(path) {
		return
	}
	h, err := holdFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegular) || errors.Is(err, errChanged) || errors.Is(err, errBusy) {
			// Gone already (judged twice, deleted), a link (never followed), or
			// still being written (its close-write comes later).
			g.log.Debug("File not judged", "path", path, "err", err)
			return
		}
		g.watcherError(err)
		return
	}
	defer h.Close()
	size, _, _, mode := h.meta()
	res, cerr := g.cls.Reader(path, h.f, size, fs.FileMode(mode))
	if cerr != nil {
		// The classifier fails closed (its verdict is block); say why in the log.
		g.log.Warn("File could not be read fully, blocked", "path", path, "err", cerr)
		res.Verdict = classify.Block
	}
	name := filepath.Base(path)
	switch res.Verdict {
	case classify.Allow:
		return
	case classify.AllowNoExec:
		g.emit(protocol.EventDownloadNoExec, protocol.SeverityInfo, map[string]string{
			protocol.DataName: name, protocol.DataSHA256: res.SHA256, protocol.DataReason: res.Reason,
			protocol.DataSize: strconv.FormatInt(res.Size, 10),
		})
		return
	}
	sum := res.SHA256
	if sum == "" {
		sum, _ = hashHeld(h)
	}
	if cerr == nil && g.q.Released(sum) {
		g.log.Info("Released content left in place", "name", filepath.Base(path), "sha256", sum)
		return
	}
	ev := protocol.DownloadBlocked{Name: name, SHA256: sum, Size: size, Reason: protocol.Clip(res.Reason, protocol.MaxText)}
	rec, err := g.q.put(h, sum, protocol.Clip(res.Reason, 2048), res.Kind, g.now())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return // deleted by the patron between judgement and move
		}
		g.log.Error("Quarantine blocked file", "path", path, "err", err)
		ev.Quarantine = "failed: " + protocol.Clip(err.Error(), 200)
	} else {
		ev.ID, ev.SHA256, ev.Size = rec.ID, rec.SHA256, rec.Size
		g.log.Info("Download blocked", "name", name, "id", rec.ID, "reason", res.Reason)
	}
	g.emit(protocol.EventDownloadBlocked, protocol.SeverityAlert, ev.Data())
}

func (g *Guard) emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) {
	if err := g.sink.Emit(kind, sev, data); err != nil {
		g.log.Error("Report event", "kind", kind, "err", err)
	}
}

func hashHeld(h *heldFile) (string, error) {
	r, err := h.reader()
	if err != nil {
		return "", err
	}
	s := sha256.New()
	if _, err := io.Copy(s, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(s.Sum(nil)), nil
}
