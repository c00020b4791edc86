package wipe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/agent/wipe/template"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// EventSink receives the wipe's events (the agent's outbox implements it).
type EventSink interface {
	// Emit records one event durably for the hub. data values are short plain text.
	Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error
}

// LogonGate holds and releases new logons of one account. Both calls must be
// idempotent and durable: Hold of a held account keeps it held and Release
// restores the account as it was before the first Hold, even across restarts of
// the agent. Calls for one account are never concurrent.
type LogonGate interface {
	Hold(ctx context.Context, user string) error
	Release(ctx context.Context, user string) error
}

// ProcessKiller ends every process that runs as uid (real, effective, saved or
// filesystem id) and returns when none is left, or with an error at ctx's end.
type ProcessKiller interface {
	KillAll(ctx context.Context, uid int) (killed int, err error)
}

// processLister is implemented by killers that can list what still runs as an
// account (Linux); verify then refuses to call a station clean while a process
// of the patron lives, whatever the killer reported.
type processLister interface {
	Running(uid int) ([]int, error)
}

// PrintQueue cancels and purges the print jobs of one account.
type PrintQueue interface {
	CancelAll(ctx context.Context, user string) error
}

// Account is what the wipe needs to know about a patron account.
type Account struct {
	Name   string
	UID    int
	GID    int
	Home   string
	Groups []string // names of the groups the account is a member of
}

// UserDB looks accounts up.
type UserDB interface {
	Lookup(name string) (Account, error)
	LookupUID(uid int) (Account, error)
}

// Scope says what to wipe: a patron account and, when it is not the account's
// home from the user database, the home directory.
type Scope struct {
	User string
	Home string
}

// Leftover is something a wipe could not remove or that should not be there.
// Path is escaped like strconv.Quote (control and bidi characters, invalid UTF-8).
type Leftover struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Report is the outcome of one wipe. A dirty wipe is not an error: Verified is
// false, Leftovers say why, and logons stay held.
type Report struct {
	ID            string     `json:"id"`
	User          string     `json:"user"`
	Home          string     `json:"home"`
	Mode          string     `json:"mode"`
	Ready         bool       `json:"ready"`  // logons allowed again
	Purged        bool       `json:"purged"` // trash removed completely
	Verified      bool       `json:"verified"`
	FilesRemoved  int64      `json:"files_removed"`
	BytesRemoved  int64      `json:"bytes_removed"`
	MsUntilReady  int64      `json:"ms_until_ready"`
	MsUntilPurged int64      `json:"ms_until_purged"`
	Leftovers     []Leftover `json:"leftovers"`
	Refusals      []string   `json:"refusals"`
}

// Errors.
var (
	// ErrRefused is matched by every refusal of an unsafe scope.
	ErrRefused = errors.New("wipe refused")
	// ErrDirty is returned by Resume when a wipe could not be verified.
	ErrDirty = errors.New("wipe left the station dirty")
	// ErrNotImplemented is returned by platform pieces this OS lacks.
	ErrNotImplemented = fmt.Errorf("not implemented on this OS: %w", errors.ErrUnsupported)
)

// RefusedError says why a scope was refused. It matches ErrRefused.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string        { return "wipe refused: " + e.Reason }
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func refuse(format string, a ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, a...)}
}

// Option changes how New builds an Engine (tests and other platforms' pieces).
type Option func(*Engine)

// WithGate replaces the OS logon gate.
func WithGate(g LogonGate) Option { return func(e *Engine) { e.gate = g } }

// WithKiller replaces the OS process killer.
func WithKiller(k ProcessKiller) Option { return func(e *Engine) { e.killer = k } }

// WithUsers replaces the OS user database.
func WithUsers(u UserDB) Option { return func(e *Engine) { e.users = u } }

// WithPrintQueue replaces the OS print queue (nil: none).
func WithPrintQueue(p PrintQueue) Option { return func(e *Engine) { e.printq = p } }

// Engine runs wipes. Wipe, Resume and Purge may be called from any goroutine;
// wipes run one at a time.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	sink   EventSink
	gate   LogonGate
	killer ProcessKiller
	users  UserDB
	printq PrintQueue

	// hook, when set (tests), runs before (recorded=false) and after each journal
	// record is written.
	hook func(step string, recorded bool)

	wipeMu sync.Mutex // one wipe at a time

	mu     sync.Mutex // protects purges
	purges map[string]*purgeJob
	queue  chan string
}

type purgeJob struct {
	done chan struct{}
	rep  Report
	err  error
}

type nopSink struct{}

func (nopSink) Emit(protocol.EventKind, protocol.Severity, map[string]string) error { return nil }

// New returns an engine for cfg; zero fields of cfg take their defaults. sink may
// be nil (events are then only logged).
func New(cfg Config, log *slog.Logger, sink EventSink, opts ...Option) (*Engine, error) {
	def := DefaultConfig()
	if cfg.PatronGroup == "" {
		cfg.PatronGroup = def.PatronGroup
	}
	if cfg.MinUID <= 0 {
		cfg.MinUID = def.MinUID
	}
	if cfg.TemplateDir == "" {
		cfg.TemplateDir = def.TemplateDir
	}
	if cfg.JournalDir == "" {
		cfg.JournalDir = def.JournalDir
	}
	if cfg.TempDirs == nil {
		cfg.TempDirs = def.TempDirs
	}
	if cfg.PrintSpoolDirs == nil {
		cfg.PrintSpoolDirs = def.PrintSpoolDirs
	}
	if cfg.ProtectedDirs == nil {
		cfg.ProtectedDirs = def.ProtectedDirs
	}
	if cfg.KillTimeout <= 0 {
		cfg.KillTimeout = def.KillTimeout
	}
	if cfg.PurgeRetries <= 0 {
		cfg.PurgeRetries = def.PurgeRetries
	}
	if cfg.PurgeWorkers <= 0 {
		cfg.PurgeWorkers = def.PurgeWorkers
	}
	if cfg.MaxLeftovers <= 0 {
		cfg.MaxLeftovers = def.MaxLeftovers
	}
	for _, p := range append([]string{cfg.TemplateDir, cfg.JournalDir}, cfg.ProtectedDirs...) {
		if !cleanAbs(p) {
			return nil, fmt.Errorf("wipe config: %q is not a clean absolute path", p)
		}
	}
	for _, d := range append(append([]string{}, cfg.TempDirs...), cfg.PrintSpoolDirs...) {
		if !cleanAbs(d) || isVolumeRoot(d) || slices.Contains(systemDirs, d) || slices.Contains(systemExact, d) && d != "/tmp" {
			return nil, fmt.Errorf("wipe config: %q cannot be a shared temp or spool dir (a clean absolute path below a system directory)", d)
		}
	}
	if cfg.TrashDir != "" && !cleanAbs(cfg.TrashDir) {
		return nil, fmt.Errorf("wipe config: trash_dir %q is not a clean absolute path", cfg.TrashDir)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if sink == nil {
		sink = nopSink{}
	}
	e := &Engine{cfg: cfg, log: log, sink: sink, purges: map[string]*purgeJob{}, queue: make(chan string, 64)}
	e.gate, e.killer, e.users, e.printq = newGate(cfg), newKiller(), newUsers(), newPrintQueue()
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

func newID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// emit sends an event; values are made valid UTF-8 and short, as the wire
// contract requires (paths from the disk may be neither).
func (e *Engine) emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) {
	for k, v := range data {
		data[k] = protocol.Clip(v, 1000)
	}
	if err := e.sink.Emit(kind, sev, data); err != nil {
		e.log.Error("Cannot record wipe event", "kind", kind, "err", err)
	}
}

// resolve turns a scope into an account and a home, and checks both.
func (e *Engine) resolve(s Scope) (Account, string, error) {
	var acct Account
	var err error
	switch {
	case s.User != "":
		acct, err = e.users.Lookup(s.User)
	case s.Home != "":
		uid, _, ok, lerr := ownerOfPath(s.Home)
		if lerr != nil {
			return acct, "", refuse("home %s: %v", strconv.Quote(s.Home), lerr)
		}
		if !ok {
			return acct, "", refuse("home %s: owner unknown on this OS; give the user", strconv.Quote(s.Home))
		}
		acct, err = e.users.LookupUID(uid)
	default:
		return acct, "", refuse("no user and no home given")
	}
	if err != nil {
		return acct, "", refuse("look up patron account: %v", err)
	}
	home := s.Home
	if home == "" {
		home = acct.Home
	}
	if err := e.checkAccount(acct); err != nil {
		return acct, "", err
	}
	if err := e.checkHome(home, acct); err != nil {
		return acct, "", err
	}
	return acct, home, nil
}

// trashRoot is the directory homes are renamed into.
func (e *Engine) trashRoot(home string) string {
	if e.cfg.TrashDir != "" {
		return e.cfg.TrashDir
	}
	return filepath.Join(filepath.Dir(home), ".carrel-trash")
}

// Wipe wipes one patron scope. It returns when the station is ready (logons
// allowed again) or dirty; the trash is purged later by PurgeLoop, or by Purge.
// A scope that is not safe to wipe is refused with an error matching ErrRefused
// before anything is touched. If an earlier wipe of the same account is
// unfinished, Wipe finishes that one instead.
func (e *Engine) Wipe(ctx context.Context, s Scope) (Report, error) {
	e.wipeMu.Lock()
	defer e.wipeMu.Unlock()
	t0 := time.Now()
	if s.User != "" {
		// an unfinished wipe of the account comes first, even if its home is
		// already renamed aside (the scope checks below would refuse that)
		if p, st, err := e.findUnfinished(s.User); err != nil {
			return Report{User: s.User, Home: s.Home}, err
		} else if st != nil {
			e.log.Info("Finishing an earlier wipe of the account first", "id", st.Begin.ID, "user", s.User)
			return e.continueJournal(ctx, p, st, t0)
		}
	}
	acct, home, err := e.resolve(s)
	if err != nil {
		e.log.Warn("Wipe refused", "user", s.User, "home", s.Home, "err", err)
		e.emit(protocol.EventWipeRefused, protocol.SeverityAlert, map[string]string{protocol.DataWhy: protocol.Clip(err.Error(), 500)})
		return Report{User: s.User, Home: s.Home, Refusals: []string{err.Error()}, Leftovers: []Leftover{}}, err
	}
	if p, st, err := e.findUnfinished(acct.Name); err != nil {
		return Report{User: acct.Name, Home: home}, err
	} else if st != nil {
		e.log.Info("Finishing an earlier wipe of the account first", "id", st.Begin.ID, "user", acct.Name)
		return e.continueJournal(ctx, p, st, t0)
	}
	tmpl, err := template.Load(e.cfg.TemplateDir)
	if err != nil {
		return Report{User: acct.Name, Home: home}, fmt.Errorf("load template: %w", err)
	}
	id := newID()
	trash := filepath.Join(e.trashRoot(home), id)
	if err := e.checkTrash(filepath.Dir(trash), home); err != nil {
		e.emit(protocol.EventWipeRefused, protocol.SeverityAlert, map[string]string{protocol.DataWhy: protocol.Clip(err.Error(), 500)})
		return Report{User: acct.Name, Home: home, Refusals: []string{err.Error()}, Leftovers: []Leftover{}}, err
	}
	j, err := createJournal(e.cfg.JournalDir, id)
	if err != nil {
		return Report{User: acct.Name, Home: home}, err
	}
	defer j.close()
	begin := record{Step: stepBegin, ID: id, User: acct.Name, UID: acct.UID, GID: acct.GID, Home: home,
		Trash: trash, Template: e.cfg.TemplateDir, Time: t0.UTC()}
	if err := e.record(j, begin); err != nil {
		return Report{User: acct.Name, Home: home}, err
	}
	st := &journalState{Begin: begin, Last: begin, Records: []record{begin}}
	return e.drive(ctx, j, st, tmpl, t0)
}

func (e *Engine) continueJournal(ctx context.Context, p string, st *journalState, t0 time.Time) (Report, error) {
	tmpl, err := template.Load(st.Begin.Template)
	if err != nil {
		return Report{ID: st.Begin.ID, User: st.Begin.User, Home: st.Begin.Home}, fmt.Errorf("load template: %w", err)
	}
	j, err := openJournal(p)
	if err != nil {
		return Report{ID: st.Begin.ID, User: st.Begin.User, Home: st.Begin.Home}, err
	}
	defer j.close()
	return e.drive(ctx, j, st, tmpl, t0)
}

func (e *Engine) record(j *journal, r record) error {
	if e.hook != nil {
		e.hook(r.Step, false)
	}
	if err := j.append(r); err != nil {
		return err
	}
	if e.hook != nil {
		e.hook(r.Step, true)
	}
	return nil
}

func asideName(attempt int) string {
	if attempt == 0 {
		return "home"
	}
	return "home." + strconv.Itoa(attempt)
}

// drive runs the steps after st.Last up to ready (or dirty).
func (e *Engine) drive(ctx context.Context, j *journal, st *journalState, tmpl *template.Template, t0 time.Time) (Report, error) {
	b := st.Begin
	rep := Report{ID: b.ID, User: b.User, Home: b.Home, Mode: ModeSwap, Leftovers: []Leftover{}, Refusals: []string{}}
	for _, r := range st.Records {
		if r.Step == stepMoved || r.Step == stepEmptied {
			rep.Mode = r.Mode
		}
	}
	last := stepOrder[st.Last.Step]
	if st.Last.Step == stepDirty {
		last = stepOrder[stepHeld] // retry from the kill step, logons still held
	}
	log := e.log.With("id", b.ID, "user", b.User)
	fail := func(op string, err error) (Report, error) {
		log.Error("Wipe step failed; logons stay held", "step", op, "err", err)
		e.emit(protocol.EventWipeDirty, protocol.SeverityAlert, map[string]string{protocol.DataID: b.ID, protocol.DataUser: b.User, protocol.DataWhy: protocol.Clip(op+": "+err.Error(), 500)})
		return rep, fmt.Errorf("%s: %w", op, err)
	}
	if last < stepOrder[stepHeld] {
		if err := e.gate.Hold(ctx, b.User); err != nil {
			return fail("hold logons", err)
		}
		if err := e.record(j, record{Step: stepHeld}); err != nil {
			return fail("journal", err)
		}
	}
	if last < stepOrder[stepKilled] {
		kctx, cancel := context.WithTimeout(ctx, e.cfg.KillTimeout)
		n, err := e.killer.KillAll(kctx, b.UID)
		cancel()
		if err != nil {
			return fail("end patron processes", err)
		}
		log.Debug("Patron processes ended", "count", n)
		if err := e.record(j, record{Step: stepKilled}); err != nil {
			return fail("journal", err)
		}
	}
	if last < stepOrder[stepMoved] {
		aside := asideName(st.Attempt)
		mode, err := e.moveAside(ctx, b, aside)
		if err != nil {
			return fail("move home aside", err)
		}
		rep.Mode = mode
		r := record{Step: stepMoved, Mode: mode, Aside: aside}
		if mode == ModeInPlace {
			r = record{Step: stepEmptied, Mode: mode}
		}
		if err := e.record(j, r); err != nil {
			return fail("journal", err)
		}
	}
	if last < stepOrder[stepRecreated] {
		if err := e.recreate(ctx, b, rep.Mode, tmpl); err != nil {
			return fail("recreate home", err)
		}
		if err := e.record(j, record{Step: stepRecreated}); err != nil {
			return fail("journal", err)
		}
	}
	if last < stepOrder[stepTemp] {
		left := e.clearShared(ctx, b)
		if err := e.record(j, record{Step: stepTemp, Leftovers: len(left)}); err != nil {
			return fail("journal", err)
		}
	}
	if last < stepOrder[stepVerified] {
		left := e.verify(ctx, b, tmpl)
		if len(left) > 0 {
			rep.Leftovers = left
			why := "home differs from the template or files of the patron remain"
			if err := e.record(j, record{Step: stepDirty, Leftovers: len(left), Why: why}); err != nil {
				return fail("journal", err)
			}
			log.Warn("Wipe dirty; logons stay held", "leftovers", len(left), "first", left[0].Path, "reason", left[0].Reason)
			e.emit(protocol.EventWipeDirty, protocol.SeverityAlert, map[string]string{protocol.DataID: b.ID, protocol.DataUser: b.User, protocol.DataWhy: why,
				protocol.DataLeftovers: strconv.Itoa(len(left)), protocol.DataFirst: protocol.Clip(left[0].Path+": "+left[0].Reason, 500)})
			return rep, nil
		}
		if err := e.record(j, record{Step: stepVerified}); err != nil {
			return fail("journal", err)
		}
	}
	rep.Verified = true
	if last < stepOrder[stepReleased] {
		if err := e.gate.Release(ctx, b.User); err != nil {
			return fail("release logons", err)
		}
		rep.MsUntilReady = time.Since(t0).Milliseconds()
		if err := e.record(j, record{Step: stepReleased, MsReady: rep.MsUntilReady}); err != nil {
			return fail("journal", err)
		}
	}
	rep.Ready = true
	log.Info("Station ready after wipe", "mode", rep.Mode, "msReady", rep.MsUntilReady)
	select {
	case e.queue <- b.ID:
	default:
		log.Warn("Purge queue full; the trash is purged at the next start")
	}
	return rep, nil
}

// moveAside renames the home into this wipe's trash directory, or empties it in
// place when it cannot be renamed there (another filesystem, or a mount point).
func (e *Engine) moveAside(ctx context.Context, b record, aside string) (string, error) {
	if err := ensureTrash(filepath.Dir(b.Trash)); err != nil {
		return "", err
	}
	if err := os.Mkdir(b.Trash, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create wipe trash: %w", err)
	}
	if err := checkRootDir(b.Trash); err != nil {
		return "", err
	}
	info, err := os.Lstat(b.Home)
	if errors.Is(err, fs.ErrNotExist) {
		return ModeSwap, nil // renamed before a crash, or never created
	}
	if err != nil {
		return "", fmt.Errorf("stat home: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("home %s is no longer a directory", strconv.Quote(b.Home))
	}
	if uid, _, ok := fileOwner(info); ok && uid != b.UID {
		return "", fmt.Errorf("home %s is now owned by uid %d, not the patron", strconv.Quote(b.Home), uid)
	}
	if err := e.checkHomePath(b.Home); err != nil {
		return "", err
	}
	err = renameAside(b.Home, filepath.Join(b.Trash, aside))
	if err == nil {
		return ModeSwap, nil
	}
	if !errors.Is(err, errNotSameFS) {
		return "", err
	}
	e.log.Warn("Home cannot be renamed into the trash; emptying it in place", "home", b.Home, "err", err)
	res := purgeTree(ctx, b.Home, purgeOpts{keepRoot: true, onlyUID: -1, chmodUID: -1, retries: e.cfg.PurgeRetries, maxLeft: e.cfg.MaxLeftovers})
	for _, l := range res.Leftovers {
		e.log.Warn("Left in home after in-place purge", "path", l.Path, "reason", l.Reason)
	}
	return ModeInPlace, nil
}

// recreate builds the home from the template: in swap mode in a staging
// directory inside the trash that is then renamed into place, so a patron never
// sees a half-built home.
func (e *Engine) recreate(ctx context.Context, b record, mode string, tmpl *template.Template) error {
	if mode == ModeInPlace {
		res := purgeTree(ctx, b.Home, purgeOpts{keepRoot: true, onlyUID: -1, chmodUID: -1, retries: e.cfg.PurgeRetries, maxLeft: e.cfg.MaxLeftovers})
		if len(res.Leftovers) > 0 {
			e.log.Warn("Home not empty before recreate", "leftovers", len(res.Leftovers))
		}
		r, err := openRootNoFollow(b.Home)
		if err != nil {
			return err
		}
		err = tmpl.Install(r, b.UID, b.GID)
		r.Close()
		if err != nil {
			return err
		}
		return giveHome(b.Home, b.UID)
	}
	if _, err := os.Lstat(b.Home); err == nil {
		return nil // staging was renamed into place before a crash; verify checks it
	}
	staging := filepath.Join(b.Trash, "new")
	if _, err := os.Lstat(staging); err == nil {
		res := purgeTree(ctx, staging, purgeOpts{onlyUID: -1, chmodUID: b.UID, retries: e.cfg.PurgeRetries, maxLeft: e.cfg.MaxLeftovers})
		if len(res.Leftovers) > 0 {
			return fmt.Errorf("remove half-built home: %s %s", res.Leftovers[0].Path, res.Leftovers[0].Reason)
		}
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return fmt.Errorf("create staging home: %w", err)
	}
	r, err := openRootNoFollow(staging)
	if err != nil {
		return err
	}
	err = tmpl.Install(r, b.UID, b.GID)
	r.Close()
	if err != nil {
		return err
	}
	if err := giveHome(staging, b.UID); err != nil {
		return err
	}
	if err := os.Rename(staging, b.Home); err != nil {
		return fmt.Errorf("rename staging home into place: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(b.Home))
}

func openRootNoFollow(dir string) (*os.Root, error) {
	info, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", strconv.Quote(dir), err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", strconv.Quote(dir))
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", strconv.Quote(dir), err)
	}
	return r, nil
}

// sharedDirs are the directories cleared of the patron's files.
func (e *Engine) sharedDirs() []string {
	return append(append([]string{}, e.cfg.TempDirs...), e.cfg.PrintSpoolDirs...)
}

// clearShared removes the patron's files from shared temp and spool dirs and
// cancels their print jobs; it returns what it could not remove.
func (e *Engine) clearShared(ctx context.Context, b record) []Leftover {
	var left []Leftover
	if e.printq != nil {
		if err := e.printq.CancelAll(ctx, b.User); err != nil {
			e.log.Warn("Cannot cancel print jobs", "user", b.User, "err", err)
		}
	}
	for _, d := range e.sharedDirs() {
		if _, err := os.Lstat(d); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		res := purgeTree(ctx, d, purgeOpts{keepRoot: true, onlyUID: b.UID, chmodUID: -1, retries: e.cfg.PurgeRetries, maxLeft: e.cfg.MaxLeftovers})
		left = append(left, res.Leftovers...)
	}
	return left
}

// verify compares the home with the template and searches the shared dirs for
// anything of the patron's uid.
func (e *Engine) verify(ctx context.Context, b record, tmpl *template.Template) []Leftover {
	var left []Leftover
	r, err := openRootNoFollow(b.Home)
	if err != nil {
		left = append(left, Leftover{Path: strconv.Quote(b.Home), Reason: err.Error()})
	} else {
		for _, d := range tmpl.Compare(r, b.UID, b.GID, e.cfg.MaxLeftovers) {
			left = append(left, Leftover{Path: d.Path, Reason: "home: " + d.Reason})
		}
		r.Close()
	}
	for _, d := range e.sharedDirs() {
		if _, err := os.Lstat(d); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		res := purgeTree(ctx, d, purgeOpts{keepRoot: true, dryRun: true, onlyUID: b.UID, chmodUID: -1, maxLeft: e.cfg.MaxLeftovers})
		left = append(left, res.Leftovers...)
	}
	if l, ok := e.killer.(processLister); ok {
		pids, err := l.Running(b.UID)
		if err != nil {
			left = append(left, Leftover{Path: "processes", Reason: "cannot list the patron's processes: " + err.Error()})
		}
		for _, pid := range pids {
			left = append(left, Leftover{Path: "process " + strconv.Itoa(pid), Reason: "still running as the patron"})
		}
	}
	if len(left) > e.cfg.MaxLeftovers {
		left = left[:e.cfg.MaxLeftovers]
	}
	return left
}

// Purge removes the trash of the ready wipe id (waiting if it is already being
// purged) and returns the final report. The journal is removed when the trash is
// gone; leftovers emit wipe.dirty and are retried by PurgeLoop at the next start.
func (e *Engine) Purge(ctx context.Context, id string) (Report, error) {
	e.mu.Lock()
	if job, ok := e.purges[id]; ok {
		e.mu.Unlock()
		select {
		case <-job.done:
			return job.rep, job.err
		case <-ctx.Done():
			return Report{ID: id}, ctx.Err()
		}
	}
	job := &purgeJob{done: make(chan struct{})}
	e.purges[id] = job
	e.mu.Unlock()
	job.rep, job.err = e.purge(ctx, id)
	close(job.done)
	e.mu.Lock()
	delete(e.purges, id)
	e.mu.Unlock()
	return job.rep, job.err
}

func (e *Engine) purge(ctx context.Context, id string) (Report, error) {
	if !validID(id) {
		return Report{ID: id}, fmt.Errorf("purge: bad wipe id %q", id)
	}
	p := filepath.Join(e.cfg.JournalDir, id+journalExt)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Report{ID: id, Ready: true, Purged: true, Verified: true}, nil // purged before
	}
	if err != nil {
		return Report{ID: id}, fmt.Errorf("read journal: %w", err)
	}
	st, err := readJournal(data)
	if err != nil {
		return Report{ID: id}, err
	}
	b := st.Begin
	rep := Report{ID: id, User: b.User, Home: b.Home, Mode: ModeSwap, Leftovers: []Leftover{}, Refusals: []string{}}
	for _, r := range st.Records {
		switch r.Step {
		case stepMoved, stepEmptied:
			rep.Mode = r.Mode
		case stepReleased:
			rep.MsUntilReady = r.MsReady
			rep.Ready, rep.Verified = true, true
		}
	}
	if !rep.Ready {
		return rep, fmt.Errorf("purge %s: the wipe is not ready yet (last step %s)", id, st.Last.Step)
	}
	j, err := openJournal(p)
	if err != nil {
		return rep, err
	}
	defer j.close()
	var res purgeResult
	if _, err := os.Lstat(b.Trash); err == nil {
		if err := checkRootDir(b.Trash); err != nil {
			return rep, err
		}
		res = purgeTree(ctx, b.Trash, purgeOpts{onlyUID: -1, chmodUID: b.UID, retries: e.cfg.PurgeRetries, maxLeft: e.cfg.MaxLeftovers, workers: e.cfg.PurgeWorkers})
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	rep.FilesRemoved, rep.BytesRemoved = res.Files, res.Bytes
	rep.MsUntilPurged = time.Since(b.Time).Milliseconds()
	rep.Leftovers = res.Leftovers
	r := record{Step: stepPurged, Files: res.Files, Bytes: res.Bytes, Leftovers: len(res.Leftovers)}
	if len(res.Leftovers) > 0 {
		r.Why = res.Leftovers[0].Path + ": " + res.Leftovers[0].Reason
	}
	if err := e.record(j, r); err != nil {
		return rep, err
	}
	if len(res.Leftovers) > 0 {
		rep.Verified = false
		e.log.Warn("Trash not fully purged", "id", id, "leftovers", len(res.Leftovers), "first", r.Why)
		e.emit(protocol.EventWipeDirty, protocol.SeverityAlert, map[string]string{protocol.DataID: id, protocol.DataUser: b.User,
			protocol.DataWhy: "trash not fully purged", protocol.DataLeftovers: strconv.Itoa(len(res.Leftovers)), protocol.DataFirst: protocol.Clip(r.Why, 500)})
		return rep, nil
	}
	rep.Purged = true
	if err := j.remove(); err != nil {
		return rep, err
	}
	e.emit(protocol.EventWipeDone, protocol.SeverityInfo, map[string]string{protocol.DataID: id, protocol.DataUser: b.User, protocol.DataMode: rep.Mode,
		protocol.DataFiles: strconv.FormatInt(res.Files, 10), protocol.DataBytes: strconv.FormatInt(res.Bytes, 10),
		protocol.DataMsReady: strconv.FormatInt(rep.MsUntilReady, 10), protocol.DataMsPurged: strconv.FormatInt(rep.MsUntilPurged, 10)})
	e.log.Info("Wipe done", "id", id, "files", res.Files, "bytes", res.Bytes, "msPurged", rep.MsUntilPurged)
	return rep, nil
}

// journals lists the journal files in the journal dir, oldest first.
func (e *Engine) journals() ([]string, error) {
	ents, err := os.ReadDir(e.cfg.JournalDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal dir: %w", err)
	}
	var out []string
	for _, d := range ents {
		if strings.HasSuffix(d.Name(), journalExt) && d.Type().IsRegular() {
			out = append(out, filepath.Join(e.cfg.JournalDir, d.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (e *Engine) findUnfinished(user string) (string, *journalState, error) {
	ps, err := e.journals()
	if err != nil {
		return "", nil, err
	}
	for _, p := range ps {
		data, err := os.ReadFile(p)
		if err != nil {
			return "", nil, fmt.Errorf("read journal: %w", err)
		}
		st, err := readJournal(data)
		if errors.Is(err, errEmptyJournal) {
			e.dropEmpty(p)
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("journal %s: %w", filepath.Base(p), err)
		}
		if st.Begin.User == user && stepOrder[st.Last.Step] < stepOrder[stepReleased] {
			return p, st, nil
		}
	}
	return "", nil, nil
}

// dropEmpty removes a journal whose begin record never completed.
func (e *Engine) dropEmpty(p string) {
	e.log.Info("Dropping a wipe journal that never started", "journal", filepath.Base(p))
	if err := os.Remove(p); err != nil {
		e.log.Error("Cannot remove empty wipe journal", "err", err)
	}
}

// Resume finishes every journaled wipe that had not reached ready: call it at
// start, before logons are allowed. It returns nil when every such wipe is ready;
// a wipe that is still dirty is returned as an error matching ErrDirty (logons of
// that account stay held). Ready wipes whose trash is not purged yet are queued
// for PurgeLoop.
func (e *Engine) Resume(ctx context.Context) error {
	e.wipeMu.Lock()
	defer e.wipeMu.Unlock()
	ps, err := e.journals()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ps {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read journal: %w", err))
			continue
		}
		st, err := readJournal(data)
		if errors.Is(err, errEmptyJournal) {
			e.dropEmpty(p)
			continue
		}
		if err != nil {
			e.emit(protocol.EventWipeDirty, protocol.SeverityAlert, map[string]string{protocol.DataWhy: protocol.Clip("unreadable wipe journal "+filepath.Base(p)+": "+err.Error(), 500)})
			errs = append(errs, fmt.Errorf("journal %s: %w", filepath.Base(p), err))
			continue
		}
		if stepOrder[st.Last.Step] >= stepOrder[stepReleased] {
			select {
			case e.queue <- st.Begin.ID:
			default:
			}
			continue
		}
		e.log.Info("Resuming an unfinished wipe", "id", st.Begin.ID, "user", st.Begin.User, "lastStep", st.Last.Step)
		rep, err := e.continueJournal(ctx, p, st, time.Now())
		if err != nil {
			errs = append(errs, fmt.Errorf("resume wipe %s: %w", st.Begin.ID, err))
			continue
		}
		if !rep.Verified {
			errs = append(errs, fmt.Errorf("resume wipe %s of %s: %w (%d leftovers)", st.Begin.ID, st.Begin.User, ErrDirty, len(rep.Leftovers)))
		}
	}
	return errors.Join(errs...)
}

// PurgeLoop purges the trash of ready wipes in the background until ctx ends:
// first every ready wipe found in the journal dir, then each wipe as it becomes
// ready. Cancellation is not an error.
func (e *Engine) PurgeLoop(ctx context.Context) error {
	if ps, err := e.journals(); err != nil {
		e.log.Error("Cannot list wipe journals", "err", err)
	} else {
		for _, p := range ps {
			id := strings.TrimSuffix(filepath.Base(p), journalExt)
			if data, err := os.ReadFile(p); err == nil {
				if st, err := readJournal(data); err == nil && stepOrder[st.Last.Step] >= stepOrder[stepReleased] {
					e.purgeLogged(ctx, id)
				}
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-e.queue:
			e.purgeLogged(ctx, id)
		}
	}
}

func (e *Engine) purgeLogged(ctx context.Context, id string) {
	if _, err := e.Purge(ctx, id); err != nil && ctx.Err() == nil {
		e.log.Error("Purge failed", "id", id, "err", err)
	}
}
