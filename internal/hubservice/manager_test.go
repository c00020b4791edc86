package hubservice

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kservice "github.com/kardianos/service"
)

// fakeCtl is a service manager in memory; calls records what was asked.
type fakeCtl struct {
	installed, running bool
	calls              []string
}

func (f *fakeCtl) Install() error {
	f.calls = append(f.calls, "install")
	f.installed = true
	return nil
}
func (f *fakeCtl) Uninstall() error {
	f.calls = append(f.calls, "uninstall")
	f.installed = false
	return nil
}
func (f *fakeCtl) Start() error { f.calls = append(f.calls, "start"); f.running = true; return nil }
func (f *fakeCtl) Stop() error  { f.calls = append(f.calls, "stop"); f.running = false; return nil }
func (f *fakeCtl) Status() (kservice.Status, error) {
	switch {
	case !f.installed:
		return kservice.StatusUnknown, kservice.ErrNotInstalled
	case f.running:
		return kservice.StatusRunning, nil
	}
	return kservice.StatusStopped, nil
}

func testManager(t *testing.T, ctl *fakeCtl) (*Manager, string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "hub")
	m, err := NewManager(Options{Executable: os.Args[0], DataDir: data, Controller: ctl})
	if err != nil {
		t.Fatal(err)
	}
	m.isAdmin = func() error { return nil }
	m.packaged = func() bool { return false }
	return m, data
}

func TestManagerLifecycle(t *testing.T) {
	ctl := &fakeCtl{}
	m, data := testManager(t, ctl)
	if st, err := m.Status(); err != nil || st != StateNotInstalled {
		t.Fatalf("status before install: %v %v", st, err)
	}
	if err := m.Start(); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("start before install: %v", err)
	}
	r, err := m.Install(false)
	if err != nil || r.AlreadyInstalled || !r.Started {
		t.Fatalf("install: %+v %v", r, err)
	}
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v %v", fi, err)
	}
	if r, err := m.Install(false); err != nil || !r.AlreadyInstalled || !r.Started {
		t.Errorf("install again: %+v %v", r, err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Status(); st != StateStopped {
		t.Errorf("status after stop: %v", st)
	}
	os.WriteFile(filepath.Join(data, "hub.db"), []byte("x"), 0o600)
	u, err := m.Uninstall(false)
	if err != nil || !u.WasInstalled || u.Purged != "" {
		t.Errorf("uninstall: %+v %v", u, err)
	}
	if _, err := os.Stat(filepath.Join(data, "hub.db")); err != nil {
		t.Error("uninstall without purge removed the data")
	}
	m.Install(true)
	u, err = m.Uninstall(true)
	if err != nil || u.Purged != data {
		t.Errorf("uninstall --purge: %+v %v", u, err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Error("purge left the data directory")
	}
	if got := strings.Join(ctl.calls, " "); got != "install start stop uninstall install uninstall" {
		t.Errorf("calls: %s", got)
	}
}

func TestManagerRefuses(t *testing.T) {
	ctl := &fakeCtl{}
	m, _ := testManager(t, ctl)
	m.packaged = func() bool { return true }
	if _, err := m.Install(false); !errors.Is(err, ErrPackaged) {
		t.Errorf("install over the package's unit: %v", err)
	}
	if _, err := m.Uninstall(true); !errors.Is(err, ErrPackaged) {
		t.Errorf("uninstall of the package's unit: %v", err)
	}
	m.packaged = func() bool { return false }
	m.isAdmin = func() error { return ErrNotAdmin }
	if _, err := m.Install(false); !errors.Is(err, ErrNotAdmin) {
		t.Errorf("install without rights: %v", err)
	}
	if len(ctl.calls) > 0 {
		t.Errorf("refused installs called the service manager: %v", ctl.calls)
	}
}

func TestKardianosConfig(t *testing.T) {
	args := []string{"--listen", ":443", "--name", "hub.library.example"}
	win, err := KardianosConfig(`C:\Program Files\Carrel\carrel-hub.exe`, `C:\ProgramData\carrel-hub`, args, "windows-service")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(win.Arguments, " "); got != `service --data C:\ProgramData\carrel-hub --listen :443 --name hub.library.example` {
		t.Errorf("Windows arguments: %s", got)
	}
	if win.Option["OnFailure"] != "restart" || win.Option["StartType"] != "automatic" || win.Option["SystemdScript"] != nil {
		t.Errorf("Windows options: %v", win.Option)
	}
	sd, err := KardianosConfig("/usr/local/bin/carrel-hub", "/srv/carrel-hub", args, "linux-systemd")
	if err != nil {
		t.Fatal(err)
	}
	unit, _ := sd.Option["SystemdScript"].(string)
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/carrel-hub serve --data /srv/carrel-hub --listen :443 --name hub.library.example $CARREL_HUB_OPTS\n") ||
		strings.Contains(unit, "User=") || strings.Contains(unit, "{{") {
		t.Errorf("systemd unit:\n%s", unit)
	}
	if got := strings.Join(sd.Arguments, " "); !strings.HasPrefix(got, "serve --data /srv/carrel-hub") {
		t.Errorf("systemd arguments: %s", got)
	}
	if _, err := KardianosConfig("/usr/local/bin/carrel-hub", "/srv/carrel-hub", []string{"--name", "a b"}, "linux-systemd"); err == nil {
		t.Error("an argument with a space went into the unit")
	}
}
