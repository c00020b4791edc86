//go:build linux

package overlay

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

func TestFindXAuthority(t *testing.T) {
	// A process of ours with a display and a cookie file in its environment,
	// like a patron's desktop session.
	cmd := exec.Command("sleep", "60")
	cmd.Env = []string{"DISPLAY=:4242.0", "XAUTHORITY=/run/user/4242/gdm/Xauthority"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	uid := uint32(os.Geteuid())
	pid := cmd.Process.Pid
	for _, c := range []struct {
		name    string
		uid     uint32
		display string
		leader  int
		want    string
	}{
		{"leader", uid, ":4242", pid, "/run/user/4242/gdm/Xauthority"},
		{"scan by display", uid, ":4242", 0, "/run/user/4242/gdm/Xauthority"},
		{"another display", uid, ":4243", 0, ""},
		{"leader on another display", uid, ":4243", pid, ""},
		{"another uid", uid + 1, ":4242", pid, ""},
	} {
		testbin.WaitFor(t, 10*time.Second, "environ readable", func() bool { _, err := os.ReadFile("/proc/" + itoa(pid) + "/environ"); return err == nil })
		if got := FindXAuthority("/proc", c.uid, "no-such-session", c.display, c.leader); got != c.want {
			t.Errorf("%s: FindXAuthority = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSameDisplay(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{":0", ":0", true}, {":0.0", ":0", true}, {"unix:0", ":0", true}, {":1", ":0", false}, {"", ":0", false}, {":10", ":1", false}} {
		if got := sameDisplay(c.a, c.b); got != c.want {
			t.Errorf("sameDisplay(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
