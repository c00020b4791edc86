package selftest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/wipe"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// CanaryPrefix starts the name of every canary file and program, so that a
// canary met in a log, an event or a folder is known for what it is.
const CanaryPrefix = "carrel-selftest-"

// DefaultCheckTimeout bounds one check.
const DefaultCheckTimeout = 45 * time.Second

// Check is one self-test check: what it proves, where it applies, and how it
// runs. Checks are values, listed by Checks in the order they run.
type Check struct {
	// Name is short and stable (protocol.ValidSelfTestName): the key in the
	// event and the Status.
	Name string
	// Proves is one line for IT: what a pass shows.
	Proves string
	// How says, per GOOS, what the check does there. An OS absent from How
	// has no such guard: the check is not applicable there.
	How map[string]string
	// Section is the configuration section (config.Enabled) the guard lives
	// in; a disabled section fails the check (the guard is off), "" none.
	Section string
	// Run exercises the guard. It returns the outcome and why (what it saw
	// when it passed).
	Run func(ctx context.Context, e *Env) (protocol.SelfTestOutcome, string)
}

// Applies reports whether c applies on goos and, when it does, how.
func (c Check) Applies(goos string) (how string, ok bool) {
	how, ok = c.How[goos]
	return how, ok
}

// LockProbe exercises the lock screen where a patron session is locked: it
// shows it, checks that it covers the screen, kills it and waits for it to
// come back. It says NotTestable when no patron session can show it now.
type LockProbe interface {
	ProbeLock(ctx context.Context) (protocol.SelfTestOutcome, string)
}

// Env is what the checks use: the agent's configuration and the parts of the
// running agent a check needs. The zero values of the optional fields make
// the checks that need them say "not testable now".
type Env struct {
	// Config is the agent's configuration (the guards' sections).
	Config config.Config
	// Dir is the self-test's own private directory (the canary ledger, the
	// canary account's wipe journal). Default: Config.StateDir/selftest.
	Dir string
	// Log receives one line per check.
	Log *slog.Logger
	// Lock is the lock screen's probe (the running agent's seat); nil: the
	// lock check is not testable from here.
	Lock LockProbe
	// Gate is the seat's logon gate (how this PC holds patron logons); nil:
	// the canary account's checks build this OS's own.
	Gate wipe.LogonGate
	// Canaries, when set, is told each canary's name while it exists (the
	// agent keeps the guards' reports of canaries away from staff).
	Canaries *Canaries
	// CheckTimeout bounds each check; 0 is DefaultCheckTimeout.
	CheckTimeout time.Duration

	// afterPlace, when set (tests), is called with each canary's path once
	// it is recorded in the ledger and placed.
	afterPlace func(path string)
	// downloadWait bounds the wait for the download guard (tests shorten it).
	downloadWait time.Duration
	// policyRoot is browserpolicy.New's root (tests: a temp dir).
	policyRoot string
}

func (e *Env) dir() string {
	if e.Dir != "" {
		return e.Dir
	}
	return filepath.Join(e.Config.StateDir, "selftest")
}

func (e *Env) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Report is one self-test run.
type Report struct {
	Started time.Time
	Took    time.Duration
	Results []protocol.SelfTestResult
}

// Event is the report as the hub's event data.
func (r Report) Event() protocol.SelfTestDone {
	return protocol.SelfTestDone{Results: r.Results, Took: r.Took}
}

// Summary is the report in the Status's form.
func (r Report) Summary() protocol.SelfTestSummary { return r.Event().Summary(r.Started) }

// Failed lists the checks that failed.
func (r Report) Failed() []string { return r.Summary().Failed }

// Result returns the result of the named check.
func (r Report) Result(name string) (protocol.SelfTestResult, bool) {
	for _, x := range r.Results {
		if x.Check == name {
			return x, true
		}
	}
	return protocol.SelfTestResult{}, false
}

// runMu makes self-tests run one at a time in a process (the nightly one, one
// from the console, one from the command line share the ledger).
var runMu sync.Mutex

// ErrBusy: a self-test is already running (in this process, or in another:
// the service's and the command line's share the ledger and the canary
// account, so they take turns through a lock file in Dir).
var ErrBusy = errors.New("a self-test is already running")

// lockRun takes the self-test's lock file in Dir; the returned func releases it.
func (e *Env) lockRun() (func(), error) {
	d, err := e.privateDir()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(d, "running.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("self-test lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, ErrBusy
	}
	return func() { f.Close() }, nil
}

// Run cleans up what an interrupted earlier run left, then runs checks in
// order and returns one result per check: pass, fail with the reason, not
// applicable here, or not testable now. It never leaves a canary behind when
// it returns, and one left by a killed run is removed at the next Run or
// Cleanup. It returns ErrBusy when a self-test already runs.
func Run(ctx context.Context, e *Env, checks []Check) (Report, error) {
	if !runMu.TryLock() {
		return Report{}, ErrBusy
	}
	defer runMu.Unlock()
	unlock, err := e.lockRun()
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	rep := Report{Started: time.Now()}
	if err := cleanup(ctx, e); err != nil {
		e.log().Warn("Self-test leftovers not all removed", "err", err)
	}
	for _, c := range checks {
		rep.Results = append(rep.Results, runOne(ctx, e, c))
	}
	if err := cleanup(ctx, e); err != nil {
		e.log().Warn("Self-test canaries not all removed", "err", err)
	}
	rep.Took = time.Since(rep.Started)
	return rep, nil
}

// Cleanup removes every canary an earlier, interrupted self-test left (the
// ledger's entries). The agent calls it at start; Run does the same first and
// last. While another self-test runs it returns ErrBusy and removes nothing:
// the canaries are that run's.
func Cleanup(ctx context.Context, e *Env) error {
	if !runMu.TryLock() {
		return ErrBusy
	}
	defer runMu.Unlock()
	unlock, err := e.lockRun()
	if err != nil {
		return err
	}
	defer unlock()
	return cleanup(ctx, e)
}

func runOne(ctx context.Context, e *Env, c Check) (res protocol.SelfTestResult) {
	res.Check = c.Name
	defer func() {
		if p := recover(); p != nil {
			res.Outcome, res.Reason = protocol.SelfTestFail, fmt.Sprintf("the check crashed: %v", p)
		}
		e.log().Info("Self-test check", "check", c.Name, "outcome", string(res.Outcome), "reason", res.Reason)
	}()
	if _, ok := c.Applies(runtime.GOOS); !ok {
		res.Outcome, res.Reason = protocol.SelfTestNotApplicable, "no such guard on "+runtime.GOOS
		return res
	}
	if c.Section != "" && !e.Config.Enabled(c.Section) {
		res.Outcome, res.Reason = protocol.SelfTestFail, "the guard is turned off in the configuration (disable = \""+c.Section+"\")"
		return res
	}
	timeout := e.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res.Outcome, res.Reason = c.Run(cctx, e)
	if res.Outcome == protocol.SelfTestPass && cctx.Err() != nil {
		res.Outcome, res.Reason = protocol.SelfTestFail, "timed out after "+timeout.String()
	}
	if !res.Outcome.Known() {
		res.Outcome, res.Reason = protocol.SelfTestFail, "the check gave no outcome"
	}
	res.Reason = protocol.Clip(res.Reason, 400)
	return res
}

// Canaries is the set of canary names that exist now, for the agent's event
// filter: a guard's report of a canary is the self-test's business, not an
// alert for staff. Names are exact and random (CanaryPrefix and a nonce),
// so a patron cannot hide a real file behind one. Safe for concurrent use.
type Canaries struct {
	mu    sync.Mutex // guards names
	names map[string]bool
}

// Has reports whether name is a canary's that exists now.
func (c *Canaries) Has(name string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.names[name]
}

// canaryMemory is how long a canary's name stays known after the canary is
// gone: the exec guard reports off its decision path, after the check ended.
const canaryMemory = time.Minute

func (c *Canaries) set(name string, on bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string]bool{}
	}
	if on {
		c.names[name] = true
		return
	}
	time.AfterFunc(canaryMemory, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.names, name)
	})
}

// canaryName is CanaryPrefix, a random nonce and ext.
func canaryName(ext string) string {
	var b [8]byte
	rand.Read(b[:])
	return CanaryPrefix + hex.EncodeToString(b[:]) + ext
}

// privateDir makes the self-test's directory, private to the service.
func (e *Env) privateDir() (string, error) {
	d := e.dir()
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("self-test dir: %w", err)
	}
	return d, nil
}
