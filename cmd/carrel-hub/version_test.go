package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionOfBuiltBinary builds carrel-hub twice: stamped with -ldflags -X
// as releases are, and plain, where the commit and date are whatever the go
// command stamped into the binary (vcs.revision, vcs.time: none in a git
// worktree or with GOFLAGS=-buildvcs=false, as on these machines in 2026-12).
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: builds carrel-hub twice")
	}
	dir := t.TempDir()
	build := func(name string, args ...string) (bin, version string) {
		t.Helper()
		bin = filepath.Join(dir, name)
		cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), ".")...)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", name, err)
		}
		return bin, strings.TrimSpace(string(out))
	}
	_, stamped := build("stamped", "-ldflags", "-X main.version=1.4.0 -X main.commit=1234567890abcdef -X main.date=2026-12-07T09:00:00Z")
	if want := "carrel-hub 1.4.0, commit 1234567890ab"; !strings.HasPrefix(stamped, want) || !strings.HasSuffix(stamped, ", built 2026-12-07T09:00:00Z") {
		t.Errorf("stamped: %q, want %q..., built 2026-12-07T09:00:00Z", stamped, want)
	}
	bin, plain := build("plain", "-buildvcs=auto")
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	rev, when := "unknown", "at an unknown date"
	for _, l := range strings.Split(string(meta), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "build" {
			if v, ok := strings.CutPrefix(f[1], "vcs.revision="); ok {
				rev = v[:12]
			}
			if v, ok := strings.CutPrefix(f[1], "vcs.time="); ok {
				when = v
			}
		}
	}
	if !strings.HasPrefix(plain, "carrel-hub dev, commit "+rev) || !strings.HasSuffix(plain, ", built "+when) {
		t.Errorf("plain: %q, want commit %s, built %s (from go version -m)", plain, rev, when)
	}
}
