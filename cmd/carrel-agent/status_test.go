package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/service"
	"github.com/carrel-kiosk/carrel/internal/svcctl"
	kservice "github.com/kardianos/service"
)

func TestPrintStatus(t *testing.T) {
	var out bytes.Buffer
	if code := printStatus(&out, service.StatusReport{State: service.StateNotInstalled}, false, "linux"); code != 3 {
		t.Errorf("not installed: exit %d, want 3", code)
	}
	if !strings.HasPrefix(out.String(), "carrel-agent is not installed as a service; install it with: sudo carrel-agent install --hub wss://HOST:PORT --fingerprint SHA256 --token TOKEN\n") {
		t.Errorf("not installed printed:\n%s", out.String())
	}
	out.Reset()
	printStatus(&out, service.StatusReport{State: service.StateNotInstalled}, false, "windows")
	if !strings.Contains(out.String(), "elevated prompt with: carrel-agent install --hub") || strings.Contains(out.String(), "sudo") {
		t.Errorf("not installed on Windows printed:\n%s", out.String())
	}
	out.Reset()
	if code := printStatus(&out, service.StatusReport{State: service.StateRunning, Enrolled: true}, false, "linux"); code != 0 ||
		out.String() != "Service:  running\nEnrolled: yes\n" {
		t.Errorf("running: exit %d, printed %q", code, out.String())
	}
	out.Reset()
	if code := printStatus(&out, service.StatusReport{State: service.StateNotInstalled}, true, "linux"); code != 3 || !strings.Contains(out.String(), `"service":"not-installed"`) {
		t.Errorf("--json not installed: exit %d, printed %q", code, out.String())
	}
	// The help names the install command's real flags.
	var help bytes.Buffer
	cmdInstall(context.Background(), []string{"--help"}, &help, &help)
	for _, f := range []string{"-hub", "-fingerprint", "-token"} {
		if !strings.Contains(help.String(), f) {
			t.Errorf("install has no %s flag, but status's help names it:\n%s", f, help.String())
		}
	}
}

// `carrel-agent status` through this machine's real service manager, where
// carrel-agent is not installed: the plain sentence and how to install, exit
// 3, not "query service: exit status 1". It only queries.
func TestStatusNotInstalledOnThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	cfg := filepath.Join(t.TempDir(), "agent.toml")
	systems := []string{""} // the detected one
	if _, err := exec.LookPath("service"); err == nil {
		systems = append(systems, "unix-systemv") // kardianos alone says "exit status 1" there
	}
	for _, sys := range systems {
		name := sys
		if name == "" {
			name = kservice.ChosenSystem().String()
		}
		if present, _ := svcctl.Registered("/", name, service.Name); present {
			t.Logf("skipping %s: carrel-agent is installed on this machine", name)
			continue
		}
		args := []string{"--config", cfg}
		if sys != "" {
			args = append(args, "--system", sys)
		}
		var out, errb bytes.Buffer
		code := cmdStatus(context.Background(), args, &out, &errb)
		if code != 3 || !strings.Contains(out.String(), "carrel-agent is not installed as a service; install it with: sudo carrel-agent install") ||
			strings.Contains(errb.String(), "exit status") {
			t.Errorf("status (%s): exit %d\nstdout:\n%s\nstderr:\n%s", name, code, out.String(), errb.String())
		}
	}
}
