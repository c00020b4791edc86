package selftest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Names of the checks, as the event and the Status carry them.
const (
	CheckStateDir        = "state-dir"
	CheckQuarantineDir   = "quarantine-dir"
	CheckDownloadGuard   = "download-guard"
	CheckExecGuard       = "exec-guard"
	CheckBrowserPolicies = "browser-policies"
	CheckLockScreen      = "lock-screen"
	CheckWipe            = "wipe"
	CheckLogonGate       = "logon-gate"
	CheckServiceRestart  = "service-restart"
)

// Checks is every check, in the order Run runs them: the cheap read-only
// ones first, the canary account last.
func Checks() []Check {
	return []Check{
		{
			Name: CheckStateDir, Proves: "the agent's state (its key, certificate, outbox) is private to the service",
			How: map[string]string{
				"linux":   "the state dir and everything below it: owned by the service, no group or other permission bits, no symbolic links",
				"darwin":  "the state dir and everything below it: owned by the service, no group or other permission bits, no symbolic links",
				"windows": "the state dir and everything below it: no DACL entry for Everyone, Users or Authenticated Users",
			},
			Run: checkStateDir,
		},
		{
			Name: CheckQuarantineDir, Section: "downloads", Proves: "blocked files sit where no patron can read or run them",
			How: map[string]string{
				"linux":   "the quarantine dir and its blobs, records, tmp and released dirs: owned by the service, mode 0700",
				"darwin":  "the quarantine dir and its blobs, records, tmp and released dirs: owned by the service, mode 0700",
				"windows": "the quarantine dir and its four dirs: a DACL for SYSTEM, Administrators and the service only",
			},
			Run: checkQuarantineDir,
		},
		{
			Name: CheckDownloadGuard, Section: "downloads", Proves: "a program written into a patron folder is taken into quarantine",
			How: map[string]string{
				"linux":   "writes a canary script (#!/bin/sh, exit 0) into a shared patron-writable root (/tmp) and waits for it to leave and for its quarantine record",
				"darwin":  "as on Linux, in /private/tmp",
				"windows": `as on Linux, in C:\Windows\Temp`,
			},
			Run: checkDownloadGuard,
		},
		{
			Name: CheckExecGuard, Section: "exec_guard", Proves: "nothing runs from a patron-writable folder, even a file the download guard did not see",
			How: map[string]string{
				"linux":   "links a copy of /bin/true into a patron-writable root through O_TMPFILE (unseen by the download guard) and runs it: fanotify must refuse it (EPERM)",
				"windows": `copies carrel-agent.exe into C:\Windows\Temp and runs it: the SRP path rule must refuse it (ERROR_ACCESS_DISABLED_BY_POLICY)`,
			},
			Run: checkExecGuard,
		},
		{
			Name: CheckBrowserPolicies, Section: "browser_policy", Proves: "each managed browser reads Carrel's policy",
			How: map[string]string{
				"linux":   "reads back every policy file Chrome, Edge, Chromium and Firefox read (managed JSON, policies.json): exact content, mode 0644, owned by the service",
				"darwin":  "reads back every managed preferences file the browsers read",
				"windows": `reads back every value under HKLM\SOFTWARE\Policies the browsers read`,
			},
			Run: checkBrowserPolicies,
		},
		{
			Name: CheckLockScreen, Section: "session", Proves: "the lock screen covers a locked patron session and comes back when killed",
			How: map[string]string{
				"linux":   "in each open patron X11 session of a locked PC: the lock screen must be mapped with the keyboard and pointer grabbed, is killed, and must be back within 5 s; no patron session, or one in use (the self-test locks no one out), or run from the command line: not testable now",
				"windows": "as on Linux, in the patron's desktop session (the session helper's lock window and keyboard hook)",
			},
			Run: checkLockScreen,
		},
		{
			Name: CheckWipe, Section: "session", Proves: "a patron account's home is wiped to verified clean",
			How: map[string]string{
				"linux":   "makes the canary account carrel-canary (no password, no shell), leaves a file in its home, wipes it as at a logout and checks the report is verified clean and the file gone; then removes the account",
				"windows": "not built yet (2026-12): says not testable now",
			},
			Run: checkWipe,
		},
		{
			Name: CheckLogonGate, Section: "session", Proves: "the logon gate keeps a held patron account out",
			How: map[string]string{
				"linux":   "holds the canary account through the seat's gate and logs it in through PAM (su): refused while held, allowed after release",
				"windows": "not built yet (2026-12): says not testable now",
			},
			Run: checkLogonGate,
		},
		{
			Name: CheckServiceRestart, Proves: "the service manager restarts the agent when it dies",
			How: map[string]string{
				"linux":   "systemctl show carrel-agent: Restart is always or on-failure",
				"darwin":  "the launchd plist of carrel-agent has KeepAlive",
				"windows": "the service's recovery actions restart it on the first failure",
			},
			Run: checkServiceRestart,
		},
	}
}

func checkStateDir(_ context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	if err := config.CheckStateDir(e.Config.StateDir); err != nil {
		return protocol.SelfTestFail, err.Error()
	}
	return protocol.SelfTestPass, e.Config.StateDir + " is private to the service"
}

func checkQuarantineDir(_ context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	dir := e.Config.Downloads.QuarantineDir
	if err := downloads.CheckQuarantineDir(dir); err != nil {
		return protocol.SelfTestFail, err.Error()
	}
	return protocol.SelfTestPass, dir + " is private to the service"
}

// canaryDir picks where a canary goes for a guard whose roots are patterns:
// the configured canary dir, else the first of this OS's shared temp dirs
// (sharedTempDirs) the roots cover, never a patron's own folder.
func canaryDir(e *Env, patterns []string) (string, error) {
	roots := downloads.ExpandRoots(patterns)
	covered := func(d string) bool {
		for _, r := range roots {
			if downloads.Under(d, r) {
				return true
			}
		}
		return false
	}
	cands := sharedTempDirs()
	if e.Config.SelfTest.CanaryDir != "" {
		cands = []string{e.Config.SelfTest.CanaryDir}
	}
	for _, d := range cands {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && covered(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("none of %s is a directory under the guard's roots (%s); set [selftest] canary_dir", strings.Join(cands, ", "), strings.Join(patterns, ", "))
}

// canaryScript is the download canary: a script the classifier blocks for its
// interpreter line, which does nothing if run.
const canaryScript = "#!/bin/sh\n# Carrel self-test canary: harmless, quarantined on purpose.\nexit 0\n"

// defaultDownloadWait bounds the wait for the download guard: its Windows
// watcher judges a file once it has been quiet for its settle time, and the
// macOS one sweeps.
const defaultDownloadWait = 20 * time.Second

func checkDownloadGuard(ctx context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	dir, err := canaryDir(e, e.Config.Downloads.Roots)
	if err != nil {
		return protocol.SelfTestNotTestable, err.Error()
	}
	q := downloads.QuarantineAt(e.Config.Downloads.QuarantineDir)
	name := canaryName(".sh")
	path := filepath.Join(dir, name)
	en := entry{Kind: entryFile, Name: name, Path: path}
	if err := e.record(en); err != nil {
		return protocol.SelfTestFail, err.Error()
	}
	defer e.undo(context.WithoutCancel(ctx), en)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return protocol.SelfTestNotTestable, "cannot write the canary: " + err.Error()
	}
	_, werr := f.WriteString(canaryScript)
	if err := errors.Join(werr, f.Close()); err != nil {
		return protocol.SelfTestNotTestable, "cannot write the canary: " + err.Error()
	}
	placed := time.Now()
	if e.afterPlace != nil {
		e.afterPlace(path)
	}
	wait := e.downloadWait
	if wait <= 0 {
		wait = defaultDownloadWait
	}
	var gone bool
	var rec downloads.Record
	err = waitFor(ctx, wait, func() bool {
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
		gone = true
		recs, _ := q.List()
		for _, r := range recs {
			if r.OriginalPath == path {
				rec = r
				return true
			}
		}
		return false
	})
	switch {
	case err == nil:
		return protocol.SelfTestPass, fmt.Sprintf("the canary %s written into %s was quarantined in %s (record %s)", name, dir, time.Since(placed).Round(time.Millisecond), rec.ID)
	case gone:
		return protocol.SelfTestFail, fmt.Sprintf("the canary left %s but no quarantine record names it", dir)
	}
	return protocol.SelfTestFail, fmt.Sprintf("the canary stayed in %s for %s: nothing quarantined it", dir, wait)
}

func checkExecGuard(ctx context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	dir, err := canaryDir(e, e.Config.ExecGuard.Roots)
	if err != nil {
		return protocol.SelfTestNotTestable, err.Error()
	}
	name := canaryName(programExt)
	path := filepath.Join(dir, name)
	en := entry{Kind: entryFile, Name: name, Path: path}
	if err := e.record(en); err != nil {
		return protocol.SelfTestFail, err.Error()
	}
	defer e.undo(context.WithoutCancel(ctx), en)
	if err := placeProgram(path); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return protocol.SelfTestNotTestable, err.Error()
		}
		return protocol.SelfTestNotTestable, "cannot place the canary program: " + err.Error()
	}
	if e.afterPlace != nil {
		e.afterPlace(path)
	}
	err = runProgram(ctx, path)
	switch {
	case err == nil:
		return protocol.SelfTestFail, fmt.Sprintf("the canary program %s ran from %s: nothing refused it", name, dir)
	case refusedByGuard(err):
		return protocol.SelfTestPass, fmt.Sprintf("running the canary program %s from %s was refused (%v)", name, dir, err)
	case errors.Is(err, fs.ErrNotExist):
		return protocol.SelfTestFail, fmt.Sprintf("the canary program vanished from %s before it could run (the download guard took it?)", dir)
	}
	return protocol.SelfTestFail, fmt.Sprintf("the canary program did not run, but not because the guard refused it: %v", err)
}

func checkBrowserPolicies(_ context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	rbs, err := browserpolicy.New(e.Config.BrowserPolicy, e.policyRoot, e.log(), nil).Verify()
	if errors.Is(err, browserpolicy.ErrNotImplemented) {
		return protocol.SelfTestNotApplicable, err.Error()
	}
	if err != nil {
		return protocol.SelfTestFail, err.Error()
	}
	if len(rbs) == 0 {
		return protocol.SelfTestNotTestable, "no browser is managed (browser_policy.browsers)"
	}
	var bad, good []string
	for _, r := range rbs {
		if r.Err != nil {
			bad = append(bad, r.Browser+": "+r.Err.Error())
		} else {
			good = append(good, r.Location)
		}
	}
	if len(bad) > 0 {
		return protocol.SelfTestFail, strings.Join(bad, "; ")
	}
	return protocol.SelfTestPass, fmt.Sprintf("%d policy locations read back: %s", len(good), strings.Join(good, ", "))
}

func checkLockScreen(ctx context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	if e.Lock == nil {
		return protocol.SelfTestNotTestable, "no seat to show the lock screen in from here (run the self-test from the service: nightly or from the console)"
	}
	return e.Lock.ProbeLock(ctx)
}

// waitFor polls cond until it holds, ctx ends or wait passes.
func waitFor(ctx context.Context, wait time.Duration, cond func() bool) error {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errors.New("timed out")
		case <-tick.C:
		}
	}
}
