//go:build linux

package hubservice

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSystemdUnitVerifies(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "carrel-hub")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, o := range []UnitOptions{
		{Executable: exe, DataDir: LinuxDataDir, User: User},
		{Executable: exe, DataDir: "/srv/hub", Args: []string{"--listen", ":443", "--name", "hub.library.example"}},
	} {
		unit, err := SystemdUnit(o)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"ExecStart=" + exe + " serve --data " + o.DataDir + strings.Join(append([]string{""}, o.Args...), " ") + " $CARREL_HUB_OPTS\n",
			"EnvironmentFile=-/etc/default/carrel-hub\n", "Restart=always\n", "StartLimitIntervalSec=0\n", "LimitNOFILE=65536\n",
			"ReadWritePaths=" + o.DataDir + "\n", "ProtectSystem=strict\n", "ProtectHome=yes\n", "NoNewPrivileges=yes\n",
			"CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "WantedBy=multi-user.target\n",
		}
		if o.User != "" {
			want = append(want, "User="+User+"\n", "Group="+User+"\n")
		} else if strings.Contains(unit, "User=") {
			t.Errorf("unit without a user names one:\n%s", unit)
		}
		for _, w := range want {
			if !strings.Contains(unit, w) {
				t.Errorf("unit lacks %q:\n%s", w, unit)
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
			t.Fatalf("systemd-analyze verify: %v\n%s\n%s", err, out, unit)
		}
	}
}

func TestSystemdUnitRefusesUnsafeValues(t *testing.T) {
	for _, o := range []UnitOptions{
		{Executable: "carrel-hub", DataDir: LinuxDataDir},
		{Executable: "/usr/bin/carrel-hub", DataDir: "var/lib/x"},
		{Executable: "/usr/bin/carrel hub", DataDir: LinuxDataDir},
		{Executable: "/usr/bin/carrel-hub", DataDir: LinuxDataDir, Args: []string{"--name", "a;rm -rf /"}},
		{Executable: "/usr/bin/carrel-hub", DataDir: LinuxDataDir, Args: []string{"$HOME"}},
		{Executable: "/usr/bin/carrel-hub", DataDir: LinuxDataDir, Args: []string{""}},
	} {
		if _, err := SystemdUnit(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
