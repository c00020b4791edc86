package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestUsageAndErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "carrel-package msi") {
		t.Fatalf("--help: code %d, %q", code, out.String())
	}
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, ""},
		{[]string{"zip"}, 2, "unknown format"},
		{[]string{"deb", "--version", "1.0.0", "--out", t.TempDir()}, 2, "agent binary is required"},
		{[]string{"msi", "--agent", "x", "--version", "one", "--out", "o"}, 2, "version"},
		{[]string{"deb", "--bogus"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		out.Reset()
		errb.Reset()
		code := run(context.Background(), tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(errb.String(), tt.msg) {
			t.Errorf("%v: code %d stderr %q; want %d and %q", tt.args, code, errb.String(), tt.code, tt.msg)
		}
	}
}

func TestBuildsDeb(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("skipping: dpkg-deb not on PATH")
	}
	agent := filepath.Join(t.TempDir(), "carrel-agent")
	if err := os.WriteFile(agent, []byte("\x7fELF stand-in"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"deb", "--agent", agent, "--version", "0.9.1", "--out", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	path := strings.TrimSpace(out.String())
	if path != filepath.Join(dir, "carrel-agent_0.9.1-1_amd64.deb") {
		t.Errorf("printed %q", path)
	}
	if err := exec.Command("dpkg-deb", "--info", path).Run(); err != nil {
		t.Errorf("not a deb: %v", err)
	}
}

// The files carrel-package builds are the ones the hub's enrollment lines
// name (protocol.AgentMSIFile, AgentDebFile), for every format and arch.
func TestFileNamesMatchEnrollmentLines(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "carrel-agent")
	if err := os.WriteFile(agent, []byte("MZ stand-in"), 0o755); err != nil {
		t.Fatal(err)
	}
	builds := []struct {
		tool string
		args []string
		want string
	}{
		{"dpkg-deb", []string{"deb", "--version", "1.4.2"}, protocol.AgentDebFile("1.4.2", "amd64")},
		{"dpkg-deb", []string{"deb", "--version", "v1.4.2", "--arch", "arm64"}, protocol.AgentDebFile("1.4.2", "arm64")},
		{"wixl", []string{"msi", "--version", "1.4.2"}, protocol.AgentMSIFile("1.4.2")},
	}
	for _, b := range builds {
		if _, err := exec.LookPath(b.tool); err != nil {
			t.Logf("skipping %v: %s not on PATH", b.args, b.tool)
			continue
		}
		dir := t.TempDir()
		var out, errb bytes.Buffer
		if code := run(context.Background(), append(b.args, "--agent", agent, "--out", dir), &out, &errb); code != 0 {
			t.Fatalf("%v: code %d: %s", b.args, code, errb.String())
		}
		if got := filepath.Base(strings.TrimSpace(out.String())); got != b.want {
			t.Errorf("%v built %q; the enrollment lines name %q", b.args, got, b.want)
		}
	}
	if v := protocol.PackageVersion("v1.4.2"); v != "1.4.2" {
		t.Errorf("PackageVersion(v1.4.2) = %q", v)
	}
	if v := protocol.PackageVersion("dev"); v != "VERSION" {
		t.Errorf("PackageVersion(dev) = %q", v)
	}
}
