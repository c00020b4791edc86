//go:build linux

package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/agent/execguard"
	"github.com/carrel-kiosk/carrel/agent/wipe/template"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// inMountNS re-executes the current test in a private mount namespace
// (unshare --mount --propagation private) and reports whether the caller is
// that child; the parent gets false once the child passed. Everything the
// sandboxed PC mounts (a tmpfs for the patron-writable root, /home, a copy of
// /etc for the canary account) stays in that namespace.
func inMountNS(t *testing.T) bool {
	t.Helper()
	if os.Getenv("CARREL_SELFTEST_NS") == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("the sandboxed PC needs root (mounts, fanotify, useradd)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) not installed")
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0],
		"-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), "CARREL_SELFTEST_NS="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("mount-namespace child:\n%s", out)
	if err != nil {
		t.Fatalf("child in mount namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child did not run %s", t.Name())
	}
	return false
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// sandboxPC is a PC whose guards really run: the download guard and the
// fanotify exec guard on a private tmpfs (the one shared patron-writable
// root), browser policies under a temp root, the wipe's template, and /home
// and /etc private to the mount namespace (the canary account lives there).
type sandboxPC struct {
	cfg      config.Config
	env      *Env
	shared   string
	sink     *eventrec.Recorder
	stopExec context.CancelFunc
	policies *browserpolicy.Manager
}

func newSandboxPC(t *testing.T) *sandboxPC {
	for _, tool := range []string{"useradd", "userdel", "usermod", "su", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed", tool)
		}
	}
	work := t.TempDir()
	p := &sandboxPC{shared: filepath.Join(work, "shared"), sink: &eventrec.Recorder{}}
	os.MkdirAll(p.shared, 0o755)
	mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=1777,size=64m", "carrel-selftest", p.shared)
	mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "carrel-home", "/home")
	etc := filepath.Join(work, "etc")
	mustRun(t, "cp", "-a", "/etc", etc)
	mustRun(t, "mount", "--bind", etc, "/etc")
	t.Cleanup(func() {
		exec.Command("umount", "-l", "/etc").Run()
		exec.Command("umount", "-l", "/home").Run()
		exec.Command("umount", "-l", p.shared).Run()
	})

	cfg := config.DefaultConfig()
	cfg.StateDir = filepath.Join(work, "state")
	if err := config.EnsureStateDir(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	cfg.Downloads.Roots = []string{p.shared}
	cfg.Downloads.Exclude = nil
	cfg.Downloads.QuarantineDir = filepath.Join(work, "quarantine")
	cfg.ExecGuard.Roots = []string{p.shared}
	cfg.ExecGuard.PollInterval = 100 * time.Millisecond
	cfg.SelfTest.CanaryDir = p.shared
	skel := filepath.Join(work, "skel")
	os.Mkdir(skel, 0o755)
	cfg.Wipe.TemplateDir = filepath.Join(work, "template")
	if _, err := template.Capture(skel, cfg.Wipe.TemplateDir); err != nil {
		t.Fatal(err)
	}
	cfg.Wipe.TempDirs = []string{p.shared}
	cfg.Wipe.PrintSpoolDirs = []string{}
	cfg.Wipe.ProtectedDirs = []string{cfg.StateDir, cfg.Wipe.TemplateDir}
	p.cfg = cfg
	log := testLog(t)

	// The browser policies, as the service writes them.
	policyRoot := filepath.Join(work, "policy")
	p.policies = browserpolicy.New(cfg.BrowserPolicy, policyRoot, log, nil)
	if _, err := p.policies.Apply(); err != nil {
		t.Fatal(err)
	}

	// The download guard, live once it quarantines a probe.
	dg, err := downloads.New(cfg.Downloads, classify.New(cfg.Classify), p.sink, log)
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, dg.Run)
	probe := filepath.Join(p.shared, "probe.sh")
	testbin.WaitFor(t, 10*time.Second, "the download guard takes a probe", func() bool {
		if _, err := os.Lstat(probe); errors.Is(err, os.ErrNotExist) {
			if p.sink.Has(protocol.EventDownloadBlocked) {
				return true
			}
			os.WriteFile(probe, []byte(canaryScript), 0o644)
		}
		return false
	})
	if recs, _ := downloads.QuarantineAt(cfg.Downloads.QuarantineDir).List(); len(recs) == 1 {
		downloads.QuarantineAt(cfg.Downloads.QuarantineDir).Discard(recs[0].ID)
	}

	// The exec guard, live once it refuses a probe.
	eg, err := execguard.New(cfg.ExecGuard, p.sink, log)
	if err != nil {
		t.Fatal(err)
	}
	p.stopExec = runUntilCleanup(t, eg.Run)
	probeExe := filepath.Join(p.shared, "probe-true")
	if err := placeProgram(probeExe); err != nil {
		t.Fatal(err)
	}
	testbin.WaitFor(t, 10*time.Second, "the exec guard refuses a probe", func() bool {
		return errors.Is(exec.Command(probeExe).Run(), syscall.EPERM)
	})
	os.Remove(probeExe)

	p.env = &Env{Config: cfg, Log: log, policyRoot: policyRoot, downloadWait: 10 * time.Second}
	return p
}

// runUntilCleanup runs f until the test ends or the returned func is called,
// and waits for it to return.
func runUntilCleanup(t *testing.T, f func(context.Context) error) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("component: %v", err)
			}
			done <- nil
		case <-time.After(10 * time.Second):
			t.Error("component did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

func (p *sandboxPC) run(t *testing.T) Report {
	t.Helper()
	rep, err := Run(context.Background(), p.env, Checks())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		t.Logf("%-17s %-15s %s", r.Check, r.Outcome, r.Reason)
		if !r.Outcome.Known() || r.Reason == "" {
			t.Errorf("%s: outcome %q reason %q: every result says what it saw", r.Check, r.Outcome, r.Reason)
		}
	}
	if left := Leftovers(p.env); len(left) > 0 {
		t.Errorf("canaries left in the ledger: %v", left)
	}
	p.assertNoCanaries(t)
	return rep
}

// assertNoCanaries: no canary file in the shared root, no quarantine record
// of one, no canary account.
func (p *sandboxPC) assertNoCanaries(t *testing.T) {
	t.Helper()
	ents, _ := os.ReadDir(p.shared)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), CanaryPrefix) {
			t.Errorf("canary left in %s: %s", p.shared, e.Name())
		}
	}
	recs, _ := downloads.QuarantineAt(p.cfg.Downloads.QuarantineDir).List()
	for _, r := range recs {
		if strings.HasPrefix(filepath.Base(r.OriginalPath), CanaryPrefix) {
			t.Errorf("canary left in the quarantine: %s", r.OriginalPath)
		}
	}
	if _, err := user.Lookup(CanaryAccount); err == nil {
		t.Errorf("the canary account %s was left behind", CanaryAccount)
	}
	if ents, _ := os.ReadDir("/home"); len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		// the wipe's trash dir may stay, empty
		for _, n := range names {
			if n != ".carrel-trash" {
				t.Errorf("/home holds %v after the self-test", names)
				break
			}
		}
	}
}

func outcomes(rep Report) map[string]protocol.SelfTestOutcome {
	m := map[string]protocol.SelfTestOutcome{}
	for _, r := range rep.Results {
		m[r.Check] = r.Outcome
	}
	return m
}

// wantOnlyFailure asserts that exactly check failed, for a reason holding
// every one of words.
func wantOnlyFailure(t *testing.T, rep Report, check string, words ...string) {
	t.Helper()
	if got := rep.Failed(); !slices.Equal(got, []string{check}) {
		t.Fatalf("failed = %v, want exactly [%s]", got, check)
	}
	r, _ := rep.Result(check)
	for _, w := range words {
		if !strings.Contains(r.Reason, w) {
			t.Errorf("%s reason %q does not say %q", check, r.Reason, w)
		}
	}
}

// TestSelfTestOnSandboxPC runs the whole self-test on a PC whose guards are
// real, then breaks one guard at a time and checks that exactly that check
// fails, for the reason the break gives.
func TestSelfTestOnSandboxPC(t *testing.T) {
	if !inMountNS(t) {
		return
	}
	p := newSandboxPC(t)

	t.Run("healthy", func(t *testing.T) {
		rep := p.run(t)
		o := outcomes(rep)
		for _, c := range []string{CheckStateDir, CheckQuarantineDir, CheckDownloadGuard, CheckExecGuard, CheckBrowserPolicies, CheckWipe, CheckLogonGate} {
			if o[c] != protocol.SelfTestPass {
				r, _ := rep.Result(c)
				t.Errorf("%s = %s (%s), want pass", c, o[c], r.Reason)
			}
		}
		if o[CheckLockScreen] != protocol.SelfTestNotTestable {
			t.Errorf("lock-screen = %s without a seat, want not-testable", o[CheckLockScreen])
		}
		if len(rep.Failed()) > 0 && !slices.Equal(rep.Failed(), []string{CheckServiceRestart}) {
			t.Errorf("failed = %v", rep.Failed())
		}
		// The event and the status carry the same.
		ev := protocol.ParseSelfTestDone(rep.Event().Data())
		if len(ev.Results) != len(rep.Results) {
			t.Errorf("event carries %d results, report %d", len(ev.Results), len(rep.Results))
		}
		sum := rep.Summary()
		st := protocol.Status{OS: "linux", AgentVersion: "t", Hostname: "h", Session: protocol.SessionFree, Proof: &sum}
		if err := st.Validate(); err != nil {
			t.Errorf("status with the proof: %v", err)
		}
	})

	t.Run("quarantine-world-readable", func(t *testing.T) {
		q := p.cfg.Downloads.QuarantineDir
		os.Chmod(q, 0o755)
		defer os.Chmod(q, 0o700)
		wantOnlyFailure(t, p.run(t), CheckQuarantineDir, q, "readable by others")
	})

	t.Run("policy-file-removed", func(t *testing.T) {
		rbs, err := p.policies.Verify()
		if err != nil || len(rbs) == 0 {
			t.Fatalf("verify: %v %v", rbs, err)
		}
		gone := rbs[0].Location
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
		defer p.policies.Apply()
		wantOnlyFailure(t, p.run(t), CheckBrowserPolicies, gone, "missing")
	})

	t.Run("state-dir-opened", func(t *testing.T) {
		os.Chmod(p.cfg.StateDir, 0o711)
		defer os.Chmod(p.cfg.StateDir, 0o700)
		wantOnlyFailure(t, p.run(t), CheckStateDir, p.cfg.StateDir)
	})

	t.Run("download-guard-stopped-by-disable", func(t *testing.T) {
		p.env.Config.Disable = []string{"downloads"}
		defer func() { p.env.Config.Disable = nil }()
		rep := p.run(t)
		got := rep.Failed()
		slices.Sort(got)
		if !slices.Equal(got, []string{CheckDownloadGuard, CheckQuarantineDir}) {
			t.Fatalf("failed = %v, want the two download checks", got)
		}
		if r, _ := rep.Result(CheckDownloadGuard); !strings.Contains(r.Reason, "turned off") {
			t.Errorf("reason %q", r.Reason)
		}
	})

	t.Run("exec-guard-off", func(t *testing.T) {
		p.stopExec() // the helper exits; the kernel drops its marks
		wantOnlyFailure(t, p.run(t), CheckExecGuard, "ran", p.shared)
	})
}

const (
	envKilledChild = "CARREL_SELFTEST_KILLED" // the check the child dies in
	envKilledCfg   = "CARREL_SELFTEST_CFG"    // its Env as JSON
)

// killedChild is a self-test killed (SIGKILL, nothing deferred runs) right
// after its first canary was placed.
func killedChild() {
	var cfg config.Config
	data, _ := os.ReadFile(os.Getenv(envKilledCfg))
	if err := json.Unmarshal(data, &cfg); err != nil {
		os.Exit(4)
	}
	e := &Env{Config: cfg, afterPlace: func(string) { syscall.Kill(os.Getpid(), syscall.SIGKILL) }, downloadWait: 10 * time.Second}
	var checks []Check
	for _, c := range Checks() {
		if c.Name == os.Getenv(envKilledChild) {
			checks = append(checks, c)
		}
	}
	Run(context.Background(), e, checks)
	os.Exit(5) // the hook never fired
}

// TestKilledSelfTestLeavesNoCanary kills a self-test (SIGKILL) as soon as a
// canary exists, in each check that makes one, and checks that the next
// start's Cleanup removes it: the file (or the quarantine record the download
// guard made of it) and the canary account with its home.
func TestKilledSelfTestLeavesNoCanary(t *testing.T) {
	if !inMountNS(t) {
		return
	}
	p := newSandboxPC(t)
	data, _ := json.Marshal(p.cfg)
	cfgFile := filepath.Join(t.TempDir(), "cfg.json")
	os.WriteFile(cfgFile, data, 0o600)
	for _, check := range []string{CheckDownloadGuard, CheckExecGuard, CheckWipe, CheckLogonGate} {
		t.Run(check, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envKilledChild+"="+check, envKilledCfg+"="+cfgFile)
			cmd.Env = slices.DeleteFunc(cmd.Env, func(s string) bool { return strings.HasPrefix(s, "CARREL_SELFTEST_NS=") })
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want killed", err)
			}
			left := Leftovers(p.env)
			if len(left) != 1 {
				t.Fatalf("ledger after the kill = %v, want the one canary", left)
			}
			switch check {
			case CheckWipe, CheckLogonGate:
				if _, err := user.Lookup(CanaryAccount); err != nil {
					t.Fatalf("the canary account is not there after the kill: %v", err)
				}
			default:
				if !strings.HasPrefix(left[0], CanaryPrefix) {
					t.Fatalf("ledger names %q", left[0])
				}
			}
			if check == CheckDownloadGuard {
				// Let the download guard finish with the canary first (the
				// cleanup must then find its quarantine record).
				testbin.WaitFor(t, 10*time.Second, "the canary quarantined", func() bool {
					recs, _ := downloads.QuarantineAt(p.cfg.Downloads.QuarantineDir).List()
					for _, r := range recs {
						if filepath.Base(r.OriginalPath) == left[0] {
							return true
						}
					}
					return false
				})
			}
			// The next start.
			if err := Cleanup(context.Background(), p.env); err != nil {
				t.Fatal(err)
			}
			if left := Leftovers(p.env); len(left) > 0 {
				t.Fatalf("ledger after cleanup = %v", left)
			}
			p.assertNoCanaries(t)
		})
	}
}
