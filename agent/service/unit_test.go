//go:build linux

package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSystemdUnitVerifies(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "carrel-agent")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit, err := SystemdUnit(UnitOptions{Executable: exe, Config: "/etc/carrel/agent.toml"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=" + exe + " service --config /etc/carrel/agent.toml", "Restart=always",
		"NoNewPrivileges=yes", "ProtectKernelTunables=yes", "ProtectClock=yes", "RestrictRealtime=yes",
		"LockPersonality=yes", "LimitNOFILE=", "WantedBy=multi-user.target"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// The agent deletes patron homes and temp files, writes browser policies
	// under /etc, and uses fanotify: none of these may appear.
	for _, bad := range []string{"ProtectHome=", "PrivateTmp=", "ProtectSystem=", "CapabilityBoundingSet=", "{{"} {
		if strings.Contains(unit, bad) {
			t.Errorf("unit has %q, which stops the agent working", bad)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("skipping systemd-analyze verify: systemd-analyze not installed (apt-get install systemd)")
	}
	path := filepath.Join(dir, Name+".service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestSystemdUnitRefusesUnsafePaths(t *testing.T) {
	for _, o := range []UnitOptions{
		{Executable: "carrel-agent", Config: "/etc/carrel/agent.toml"},
		{Executable: "/usr/bin/carrel agent", Config: "/etc/carrel/agent.toml"},
		{Executable: "/usr/bin/carrel-agent", Config: "/etc/x;rm -rf /"},
		{Executable: "/usr/bin/carrel-agent", Config: "/etc/$HOME"},
	} {
		if _, err := SystemdUnit(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
