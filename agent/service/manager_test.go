//go:build linux || darwin

package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	kservice "github.com/kardianos/service"
)

// fakeCtl is a service manager in memory.
type fakeCtl struct {
	mu        sync.Mutex // guards the fields below
	installed bool
	running   bool
	calls     []string
	failOn    map[string]error
}

func (f *fakeCtl) do(name string, fn func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if err := f.failOn[name]; err != nil {
		return err
	}
	fn()
	return nil
}

func (f *fakeCtl) Install() error {
	var err error
	e := f.do("install", func() {
		if f.installed {
			err = errors.New("service carrel-agent already exists")
		}
		f.installed = true
	})
	if e != nil {
		return e
	}
	return err
}

func (f *fakeCtl) Uninstall() error {
	var err error
	e := f.do("uninstall", func() {
		if !f.installed {
			err = errors.New("service carrel-agent is not installed")
		}
		f.installed, f.running = false, false
	})
	if e != nil {
		return e
	}
	return err
}

func (f *fakeCtl) Start() error   { return f.do("start", func() { f.running = f.installed }) }
func (f *fakeCtl) Stop() error    { return f.do("stop", func() { f.running = false }) }
func (f *fakeCtl) Restart() error { return f.do("restart", func() { f.running = f.installed }) }

func (f *fakeCtl) Status() (kservice.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.installed:
		return kservice.StatusUnknown, kservice.ErrNotInstalled
	case f.running:
		return kservice.StatusRunning, nil
	}
	return kservice.StatusStopped, nil
}

func (f *fakeCtl) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

// fakeEnroller enrolls by writing a marker file, or fails with err.
type fakeEnroller struct {
	mu     sync.Mutex // guards the fields below
	marker string
	err    error // returned by Enroll while failures > 0 (or always if failures < 0)
	fails  int
	got    []Preseed
}

func (e *fakeEnroller) Enrolled() (bool, error) {
	_, err := os.Stat(e.marker)
	return err == nil, nil
}

func (e *fakeEnroller) Enroll(ctx context.Context, p Preseed) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, p)
	if e.err != nil && e.fails != 0 {
		e.fails--
		return e.err
	}
	return os.WriteFile(e.marker, []byte(p.HubURL), 0o600)
}

func (e *fakeEnroller) attempts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.got)
}

func testPaths(t *testing.T) Paths {
	root := t.TempDir()
	return Paths{
		Config:        filepath.Join(root, "etc", "carrel", "agent.toml"),
		StateDir:      filepath.Join(root, "var", "lib", "carrel-agent"),
		QuarantineDir: filepath.Join(root, "var", "lib", "carrel", "quarantine"),
		DataDir:       filepath.Join(root, "var", "lib", "carrel"),
		Preseed:       filepath.Join(root, "etc", "carrel", "enroll.env"),
	}
}

func testManager(t *testing.T) (*Manager, *fakeCtl, Paths) {
	t.Helper()
	paths := testPaths(t)
	exe := filepath.Join(t.TempDir(), "carrel-agent")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctl := &fakeCtl{}
	m, err := NewManager(Options{Executable: exe, Paths: paths, Controller: ctl})
	if err != nil {
		t.Fatal(err)
	}
	m.isAdmin = func() error { return nil }
	return m, ctl, paths
}

var goodPreseed = Preseed{HubURL: "wss://hub.example:8443", HubFingerprint: "ab12cd", EnrollToken: "tok-123"}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInstallFreshEnrollsAndErasesToken(t *testing.T) {
	m, ctl, paths := testManager(t)
	enr := &fakeEnroller{marker: filepath.Join(t.TempDir(), "enrolled")}
	r, err := m.Install(context.Background(), InstallRequest{Preseed: goodPreseed, Enroller: enr})
	if err != nil {
		t.Fatal(err)
	}
	if r.AlreadyInstalled || !r.ConfigWritten || !r.Enrolled || r.EnrollErr != nil || !r.Started {
		t.Fatalf("report = %+v", r)
	}
	if ctl.count("install") != 1 || ctl.count("start") != 1 {
		t.Fatalf("calls = %v", ctl.calls)
	}
	for _, d := range []string{paths.StateDir, paths.QuarantineDir} {
		if got := mode(t, d); got != 0o700 {
			t.Errorf("%s mode = %o, want 700", d, got)
		}
	}
	if got := mode(t, paths.Preseed); got != 0o600 {
		t.Errorf("preseed mode = %o, want 600", got)
	}
	p, err := m.preseed.Load()
	if err != nil {
		t.Fatal(err)
	}
	if p.EnrollToken != "" || p.HubURL != goodPreseed.HubURL {
		t.Errorf("preseed after enrollment = %+v, want the token erased and the hub kept", p)
	}
	if len(enr.got) != 1 || enr.got[0] != goodPreseed {
		t.Errorf("enroll got %+v", enr.got)
	}
}

func TestInstallTwiceIsHarmless(t *testing.T) {
	m, ctl, paths := testManager(t)
	ctx := context.Background()
	if _, err := m.Install(ctx, InstallRequest{Preseed: goodPreseed}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths.Config, []byte("# edited by IT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := m.Install(ctx, InstallRequest{})
	if err != nil {
		t.Fatalf("second install: %v", err)
	}
	if !r.AlreadyInstalled || r.ConfigWritten || !r.Started {
		t.Fatalf("second report = %+v", r)
	}
	if ctl.count("install") != 1 {
		t.Errorf("registered %d times", ctl.count("install"))
	}
	if ctl.count("start") != 1 {
		t.Errorf("started %d times; a running service is left alone", ctl.count("start"))
	}
	if b, _ := os.ReadFile(paths.Config); string(b) != "# edited by IT\n" {
		t.Errorf("config overwritten: %q", b)
	}
	if p, _ := m.preseed.Load(); p != goodPreseed {
		t.Errorf("preseed = %+v, want it kept", p)
	}
	// A stopped service is started again.
	ctl.Stop()
	if r, err := m.Install(ctx, InstallRequest{}); err != nil || !r.Started {
		t.Fatalf("third install: %+v %v", r, err)
	}
	if ctl.count("start") != 2 {
		t.Errorf("stopped service not restarted: %v", ctl.calls)
	}
}

func TestInstallHubUnreachableLeavesPreseed(t *testing.T) {
	m, ctl, _ := testManager(t)
	unreachable := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	enr := &fakeEnroller{marker: filepath.Join(t.TempDir(), "enrolled"), err: unreachable, fails: -1}
	r, err := m.Install(context.Background(), InstallRequest{Preseed: goodPreseed, Enroller: enr})
	if err != nil {
		t.Fatalf("install must succeed without the hub: %v", err)
	}
	if r.Enrolled || !errors.Is(r.EnrollErr, unreachable) || !r.Started {
		t.Fatalf("report = %+v", r)
	}
	if p, _ := m.preseed.Load(); p != goodPreseed {
		t.Errorf("preseed = %+v, want the token kept for the service", p)
	}
	st, err := m.Status(enr)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateRunning || st.Enrolled || !st.Pending {
		t.Errorf("status = %+v, want running, not enrolled, pending", st)
	}
	if ctl.count("install") != 1 {
		t.Errorf("calls = %v", ctl.calls)
	}
}

func TestInstallRefusals(t *testing.T) {
	t.Run("not admin", func(t *testing.T) {
		m, ctl, paths := testManager(t)
		m.isAdmin = func() error { return ErrNotAdmin }
		_, err := m.Install(context.Background(), InstallRequest{Preseed: goodPreseed})
		if !errors.Is(err, ErrNotAdmin) {
			t.Fatalf("err = %v, want ErrNotAdmin", err)
		}
		if len(ctl.calls) != 0 {
			t.Errorf("service touched: %v", ctl.calls)
		}
		if _, err := os.Stat(paths.Preseed); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("preseed written without rights")
		}
	})
	t.Run("bad hub url", func(t *testing.T) {
		m, ctl, _ := testManager(t)
		_, err := m.Install(context.Background(), InstallRequest{Preseed: Preseed{HubURL: "http://hub"}})
		if err == nil || len(ctl.calls) != 0 {
			t.Fatalf("err = %v, calls %v", err, ctl.calls)
		}
	})
	t.Run("token with newline", func(t *testing.T) {
		m, _, _ := testManager(t)
		_, err := m.Install(context.Background(), InstallRequest{Preseed: Preseed{EnrollToken: "a\nHUB_URL=wss://evil"}})
		if err == nil {
			t.Fatal("a token that injects a line was accepted")
		}
	})
	t.Run("service manager refuses", func(t *testing.T) {
		m, ctl, _ := testManager(t)
		ctl.failOn = map[string]error{"install": errors.New("access denied")}
		_, err := m.Install(context.Background(), InstallRequest{})
		if err == nil || err.Error() != "register service: access denied" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing executable", func(t *testing.T) {
		m, _, _ := testManager(t)
		m.exe = filepath.Join(t.TempDir(), "nope")
		if _, err := m.Install(context.Background(), InstallRequest{}); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUninstallIdempotentAndPurge(t *testing.T) {
	m, ctl, paths := testManager(t)
	ctx := context.Background()
	if _, err := m.Install(ctx, InstallRequest{Preseed: goodPreseed}); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(paths.QuarantineDir, "blocked.exe")
	if err := os.WriteFile(q, []byte("MZ"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A symlink inside the state dir must be removed, not followed.
	outside := filepath.Join(t.TempDir(), "keep")
	if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(paths.StateDir, "link")); err != nil {
		t.Fatal(err)
	}
	r, err := m.Uninstall(ctx, UninstallRequest{Purge: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.WasInstalled || ctl.count("stop") != 1 || ctl.count("uninstall") != 1 {
		t.Fatalf("report %+v calls %v", r, ctl.calls)
	}
	for _, p := range []string{paths.StateDir, paths.DataDir, paths.Config, paths.Preseed, filepath.Dir(paths.Config)} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after purge (err %v)", p, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("purge followed a symlink: %v", err)
	}
	r, err = m.Uninstall(ctx, UninstallRequest{Purge: true})
	if err != nil {
		t.Fatalf("second uninstall: %v", err)
	}
	if r.WasInstalled || len(r.Purged) != 0 || ctl.count("uninstall") != 1 {
		t.Errorf("second uninstall did something: %+v %v", r, ctl.calls)
	}
}

func TestUninstallCleansUpAndPackageMode(t *testing.T) {
	m, ctl, paths := testManager(t)
	ctx := context.Background()
	var cleaned int
	m.cleanup = func(context.Context) error { cleaned++; return nil }
	if _, err := m.Install(ctx, InstallRequest{Preseed: goodPreseed}); err != nil {
		t.Fatal(err)
	}
	// The .deb's prerm: dpkg owns the unit, so only clean up.
	r, err := m.Uninstall(ctx, UninstallRequest{PackageOwnsService: true})
	if err != nil {
		t.Fatal(err)
	}
	if cleaned != 1 || r.WasInstalled || ctl.count("uninstall") != 0 {
		t.Fatalf("package mode: cleaned %d, report %+v, calls %v", cleaned, r, ctl.calls)
	}
	if _, err := os.Stat(paths.StateDir); err != nil {
		t.Errorf("package mode without purge removed the state: %v", err)
	}
	m.cleanup = func(context.Context) error { cleaned++; return errors.New("policy file busy") }
	_, err = m.Uninstall(ctx, UninstallRequest{Purge: true})
	if err == nil || cleaned != 2 {
		t.Fatalf("a failed cleanup must be reported: err %v, cleaned %d", err, cleaned)
	}
	if _, err := os.Stat(paths.StateDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("purge skipped after a failed cleanup: %v", err)
	}
}

func TestControlNotInstalled(t *testing.T) {
	m, _, _ := testManager(t)
	for name, f := range map[string]func() error{"start": m.Start, "stop": m.Stop, "restart": m.Restart} {
		if err := f(); !errors.Is(err, ErrNotInstalled) {
			t.Errorf("%s: err = %v, want ErrNotInstalled", name, err)
		}
	}
	st, err := m.Status(nil)
	if err != nil || st.State != StateNotInstalled {
		t.Errorf("status = %+v, %v", st, err)
	}
	m.isAdmin = func() error { return ErrNotAdmin }
	if err := m.Start(); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("start without rights: %v", err)
	}
}
