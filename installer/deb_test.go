package installer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/service"
)

func buildTestDeb(t *testing.T, o Options) string {
	t.Helper()
	deb, err := BuildDeb(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

func TestBuildDebContents(t *testing.T) {
	needTool(t, "dpkg-deb", "dpkg")
	o := Options{Version: "1.2.3", AgentBinary: fakeAgent(t), OutDir: t.TempDir()}
	deb := buildTestDeb(t, o)
	if filepath.Base(deb) != "carrel-agent_1.2.3-1_amd64.deb" {
		t.Errorf("name = %s", deb)
	}
	ctl, err := exec.Command("dpkg-deb", "-f", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Package: carrel-agent", "Version: 1.2.3-1", "Architecture: amd64", "Section: admin", "Maintainer: "} {
		if !strings.Contains(string(ctl), want) {
			t.Errorf("control lacks %q:\n%s", want, ctl)
		}
	}
	list, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root .* ./usr/bin/carrel-agent",
		"-rw-r--r-- root/root .* ./lib/systemd/system/carrel-agent.service",
		"-rw-r--r-- root/root .* ./etc/carrel/agent.toml",
		"./usr/share/doc/carrel-agent/copyright",
		"./usr/share/doc/carrel-agent/changelog.Debian.gz",
	} {
		found := false
		for _, l := range strings.Split(string(list), "\n") {
			parts := strings.SplitN(want, " .* ", 2)
			if len(parts) == 2 && strings.HasPrefix(l, parts[0]) && strings.HasSuffix(l, parts[1]) ||
				len(parts) == 1 && strings.HasSuffix(l, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("data lacks %q:\n%s", want, list)
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v %s", err, out)
	}
	conffiles, _ := os.ReadFile(filepath.Join(dir, "conffiles"))
	if strings.TrimSpace(string(conffiles)) != service.LinuxPaths.Config {
		t.Errorf("conffiles = %q", conffiles)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(filepath.Join(dir, s))
		if err != nil {
			t.Fatalf("no %s: %v", s, err)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(dir, s)).CombinedOutput(); err != nil {
			t.Errorf("%s is not valid sh: %v %s", s, err, out)
		}
		if !strings.Contains(string(b), "carrel-agent.service") {
			t.Errorf("%s does not handle the unit", s)
		}
	}
}

func TestDebUnitVerifies(t *testing.T) {
	needTool(t, "systemd-analyze", "systemd")
	unit, err := DebUnitFile()
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists: point the shipped text at a real
	// executable; everything else is verified verbatim (the nspawn test
	// verifies the installed unit as shipped).
	dir := t.TempDir()
	exe := filepath.Join(dir, "carrel-agent")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, "ExecStart="+DebBinary+" ") {
		t.Fatalf("unit does not start %s:\n%s", DebBinary, unit)
	}
	unit = strings.Replace(unit, "ExecStart="+DebBinary+" ", "ExecStart="+exe+" ", 1)
	unitPath := filepath.Join(dir, "carrel-agent.service")
	if err := os.WriteFile(unitPath, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unitPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestDebLintianClean(t *testing.T) {
	needTool(t, "lintian", "lintian")
	if runtime.GOARCH != "amd64" {
		t.Skip("builds an amd64 agent")
	}
	agent := buildAgent(t, "linux")
	deb := buildTestDeb(t, Options{Version: "1.2.3", AgentBinary: agent, OutDir: t.TempDir()})
	out, err := exec.Command("lintian", "--fail-on", "error,warning", "--no-tag-display-limit", deb).CombinedOutput()
	// lintian prints a note when run as root; only tags matter.
	var tags []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E:") || strings.HasPrefix(l, "W:") {
			tags = append(tags, l)
		}
	}
	if err != nil || len(tags) > 0 {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
}
