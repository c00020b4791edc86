package svcctl

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	kservice "github.com/kardianos/service"
)

func TestMapStatus(t *testing.T) {
	exit1 := errors.New("exit status 1") // what kardianos's sysv Status passes on
	tests := []struct {
		name             string
		st               kservice.Status
		err              error
		present, known   bool
		wantSt           kservice.Status
		wantNotInstalled bool
		wantErr          error
	}{
		{"running", kservice.StatusRunning, nil, true, true, kservice.StatusRunning, false, nil},
		{"stopped", kservice.StatusStopped, nil, true, true, kservice.StatusStopped, false, nil},
		{"kardianos knew", kservice.StatusUnknown, kservice.ErrNotInstalled, true, true, kservice.StatusUnknown, true, nil},
		{"sysv exit 1, no script", kservice.StatusUnknown, exit1, false, true, kservice.StatusUnknown, true, nil},
		{"exit 1 with the unit there", kservice.StatusUnknown, exit1, true, true, kservice.StatusUnknown, false, exit1},
		{"exit 1, cannot tell", kservice.StatusUnknown, exit1, false, false, kservice.StatusUnknown, false, exit1},
		{"systemctl: not found", kservice.StatusUnknown, errors.New("Unit carrel-agent.service could not be found."), false, false, kservice.StatusUnknown, true, nil},
		{"service: unrecognized", kservice.StatusUnknown, errors.New("carrel-agent: unrecognized service"), false, false, kservice.StatusUnknown, true, nil},
		{"failed unit stays an error", kservice.StatusUnknown, errors.New("service in failed state"), true, true, kservice.StatusUnknown, false, nil},
	}
	for _, tt := range tests {
		st, err := MapStatus(func() (kservice.Status, error) { return tt.st, tt.err },
			func() (bool, bool) { return tt.present, tt.known })
		if st != tt.wantSt {
			t.Errorf("%s: status %v, want %v", tt.name, st, tt.wantSt)
		}
		if got := errors.Is(err, kservice.ErrNotInstalled); got != tt.wantNotInstalled {
			t.Errorf("%s: err %v, want not installed %v", tt.name, err, tt.wantNotInstalled)
		}
		if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.wantErr)
		}
		if !tt.wantNotInstalled && tt.err != nil && err == nil {
			t.Errorf("%s: the failure was lost", tt.name)
		}
	}
}

func TestRegistered(t *testing.T) {
	root := t.TempDir()
	for _, sys := range []string{"linux-systemd", "unix-systemv", "linux-upstart", "darwin-launchd", "linux-openrc"} {
		if present, known := Registered(root, sys, "carrel-x"); present || !known {
			t.Errorf("%s in an empty root: present %v known %v", sys, present, known)
		}
	}
	if _, known := Registered(root, "windows-service", "carrel-x"); known {
		t.Error("windows-service: claimed to know from files")
	}
	for sys, p := range map[string]string{"linux-systemd": "lib/systemd/system/carrel-x.service", "unix-systemv": "etc/init.d/carrel-x",
		"linux-upstart": "etc/init/carrel-x.conf", "darwin-launchd": "Library/LaunchDaemons/carrel-x.plist"} {
		f := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if present, known := Registered(root, sys, "carrel-x"); !present || !known {
			t.Errorf("%s with %s: present %v known %v", sys, p, present, known)
		}
	}
}

// The real service manager of this machine, asked about a service that is
// not installed, answers ErrNotInstalled (on a SysV machine kardianos alone
// answers "exit status 1"). It only queries.
func TestRealStatusOfServiceNotInstalled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	const name = "carrel-svcctl-test-absent"
	for _, sys := range []string{"unix-systemv", "linux-systemd"} {
		if sys == "unix-systemv" {
			if _, err := exec.LookPath("service"); err != nil {
				continue
			}
		}
		var found bool
		for _, s := range kservice.AvailableSystems() {
			found = found || s.String() == sys
		}
		if !found {
			continue
		}
		s, err := New(&kservice.Config{Name: name, Executable: "/bin/true"}, sys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Status(); !errors.Is(err, kservice.ErrNotInstalled) {
			t.Errorf("%s: Status of a service that is not installed: %v, want ErrNotInstalled", sys, err)
		}
	}
}
