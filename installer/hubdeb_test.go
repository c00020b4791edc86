package installer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/hubservice"
)

func TestBuildHubDebContents(t *testing.T) {
	needTool(t, "dpkg-deb", "dpkg")
	bin := filepath.Join(t.TempDir(), "carrel-hub")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildHubDeb(context.Background(), HubOptions{Version: "1.2.3", OutDir: t.TempDir()}); err == nil {
		t.Error("built without a hub binary")
	}
	deb, err := BuildHubDeb(context.Background(), HubOptions{Version: "1.2.3", HubBinary: bin, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(deb) != "carrel-hub_1.2.3-1_amd64.deb" {
		t.Errorf("name = %s", deb)
	}
	ctl, err := exec.Command("dpkg-deb", "-f", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Package: carrel-hub\n", "Version: 1.2.3-1\n", "Architecture: amd64\n", "Depends: adduser\n"} {
		if !strings.Contains(string(ctl), want) {
			t.Errorf("control lacks %q:\n%s", want, ctl)
		}
	}
	list, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"./usr/bin/carrel-hub", "./lib/systemd/system/carrel-hub.service", "./etc/default/carrel-hub",
		"./usr/share/doc/carrel-hub/copyright", "./usr/share/doc/carrel-hub/changelog.Debian.gz"} {
		if !strings.Contains(string(list), want+"\n") {
			t.Errorf("data lacks %s:\n%s", want, list)
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "conffiles")); strings.TrimSpace(string(b)) != hubservice.LinuxEnvFile {
		t.Errorf("conffiles = %q", b)
	}
	for s, want := range map[string]string{"postinst": "adduser --system", "prerm": "stop carrel-hub.service", "postrm": "deluser --system"} {
		b, err := os.ReadFile(filepath.Join(dir, s))
		if err != nil {
			t.Fatalf("no %s: %v", s, err)
		}
		if out, err := exec.Command("sh", "-n", filepath.Join(dir, s)).CombinedOutput(); err != nil {
			t.Errorf("%s is not valid sh: %v %s", s, err, out)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", s, want, b)
		}
	}
	unit, err := HubDebUnitFile()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, "ExecStart="+HubDebBinary+" serve --data "+hubservice.LinuxDataDir+" $CARREL_HUB_OPTS\n") || !strings.Contains(unit, "User=carrel-hub\n") {
		t.Errorf("shipped unit:\n%s", unit)
	}
}
