package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
