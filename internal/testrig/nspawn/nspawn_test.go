//go:build linux

package nspawn_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/nspawn"
)

func TestBootExecClose(t *testing.T) {
	start := time.Now()
	c := nspawn.Boot(t)
	t.Logf("booted in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := c.Exec(ctx, "useradd", "-m", "nspawn-probe"); err != nil {
		t.Fatal(err)
	}
	out, err := c.Exec(ctx, "id", "-un", "nspawn-probe")
	if err != nil || strings.TrimSpace(string(out)) != "nspawn-probe" {
		t.Fatalf("id in container = %q, %v", out, err)
	}
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyIn(src, "/root/f", 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Exec(ctx, "cat", "/root/f"); err != nil || string(out) != "hello" {
		t.Fatalf("cat in container = %q, %v", out, err)
	}
	if _, err := c.Exec(ctx, "false"); err == nil {
		t.Fatal("Exec of false: no error")
	}
	// A command that outlives its context is killed, children in the container included.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	start = time.Now()
	_, err = c.Exec(short, "sh", "-c", "sleep 60 & sleep 60")
	cancelShort()
	t.Logf("exec past its deadline returned after %v: %v", time.Since(start), err)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("Exec past its deadline returned %v after %v", err, time.Since(start))
	}
	start = time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("closed in %v", time.Since(start))
	// The user was made inside only.
	if b, _ := os.ReadFile("/etc/passwd"); strings.Contains(string(b), "nspawn-probe") {
		t.Fatal("user created in the container leaked to the host")
	}
	if _, err := os.Stat(filepath.Join("/run/systemd/nspawn/propagate", c.Name)); !os.IsNotExist(err) {
		t.Fatalf("propagate dir left behind: %v", err)
	}
}

// Two containers booted at once from one process must not share unit cgroups
// (systemd-user-sessions failed with status=219/CGROUP in one of them when they
// did), and a container with a private network has only loopback.
func TestTwoContainersAtOnce(t *testing.T) {
	var wg sync.WaitGroup
	cs := make([]*nspawn.Container, 2)
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), nspawn.BootTimeout)
			defer cancel()
			c, err := nspawn.StartWith(ctx, nspawn.Options{PrivateNetwork: i == 1})
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { c.Close() })
			cs[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, c := range cs {
		out, _ := c.Exec(ctx, "systemctl", "is-failed", "systemd-user-sessions.service", "systemd-logind.service")
		if strings.Contains(string(out), "failed") {
			st, _ := c.Exec(ctx, "systemctl", "status", "--no-pager", "systemd-user-sessions.service")
			t.Fatalf("container %d: %s\n%s", i, out, st)
		}
	}
	links, err := cs[1].Exec(ctx, "ls", "/sys/class/net")
	if err != nil || strings.TrimSpace(string(links)) != "lo" {
		t.Fatalf("private network container has interfaces %q, %v", links, err)
	}
}
