package hubservice

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/svcctl"
	kservice "github.com/kardianos/service"
)

// Status through this machine's real service manager, where carrel-hub is not
// installed, is StateNotInstalled (kardianos's SysV backend alone fails with
// "exit status 1"). It only queries.
func TestRealStatusNotInstalled(t *testing.T) {
	systems := []string{""}
	if _, err := exec.LookPath("service"); err == nil {
		systems = append(systems, "unix-systemv")
	}
	for _, sys := range systems {
		name := sys
		if name == "" {
			name = kservice.ChosenSystem().String()
		}
		if present, _ := svcctl.Registered("/", name, Name); present {
			t.Logf("skipping %s: carrel-hub is installed on this machine", name)
			continue
		}
		m, err := NewManager(Options{DataDir: filepath.Join(t.TempDir(), "data"), System: sys})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := m.Status(); st != StateNotInstalled || err != nil {
			t.Errorf("%s: status %q, %v; want %q", name, st, err, StateNotInstalled)
		}
	}
}
