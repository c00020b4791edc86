//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCIUpBusyPort runs the repository's .ci/up (the README's first command)
// on a free port, where it goes past the hub, then with its port taken by
// another program: it must stop with a plain message
// naming the port and CARREL_DEMO_PORT, before it tells the user the hub is
// up (it used to go on and fail at enrollment with a fingerprint mismatch).
// The script runs in a copy of .ci with .ci/deps and the go command stubbed:
// the stub go puts a real carrel-hub where the script builds it.
func TestCIUpBusyPort(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: builds carrel-hub")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tree := t.TempDir()
	hubBin := filepath.Join(tree, "carrel-hub.real")
	build := exec.Command("go", "build", "-o", hubBin, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up, err := os.ReadFile("../../.ci/up")
	if err != nil {
		t.Fatal(err)
	}
	stubs := filepath.Join(tree, "stubs")
	for path, text := range map[string]string{
		".ci/up":   string(up),
		".ci/deps": "#!/bin/sh\nexit 0\n",
		// go build -o DIR/ ./cmd/carrel-hub ./cmd/carrel-agent
		"stubs/go": "#!/bin/sh\ncp " + hubBin + " \"$3/carrel-hub\"\nprintf '#!/bin/sh\\nexit 1\\n' >\"$3/carrel-agent\"\nchmod +x \"$3/carrel-agent\"\n",
	} {
		p := filepath.Join(tree, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	runUp := func(port int) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(tree, ".ci/up"))
		cmd.Env = append(os.Environ(), "PATH="+stubs+":"+os.Getenv("PATH"),
			"CARREL_DEMO="+filepath.Join(tree, "demo"), fmt.Sprintf("CARREL_DEMO_PORT=%d", port))
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf(".ci/up did not stop:\n%s", out)
		}
		if err == nil {
			t.Fatalf(".ci/up succeeded with a stub agent:\n%s", out)
		}
		return string(out)
	}

	// A free port: the hub it started is the one listening, and it goes on
	// (to the stub agent, which fails).
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	if out := runUp(port); !strings.Contains(out, fmt.Sprintf("== hub up on wss://localhost:%d", port)) {
		t.Fatalf(".ci/up on a free port:\n%s", out)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port = busy.Addr().(*net.TCPAddr).Port
	out := runUp(port)
	text := out
	for _, want := range []string{fmt.Sprintf("Port %d is already in use", port), fmt.Sprintf("CARREL_DEMO_PORT=%d .ci/up", port+1)} {
		if !strings.Contains(text, want) {
			t.Errorf(".ci/up output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "hub up on") {
		t.Errorf(".ci/up said the hub is up:\n%s", text)
	}
}
