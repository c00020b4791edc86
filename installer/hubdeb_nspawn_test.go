//go:build linux

package installer

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/testrig/nspawn"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestHubInNspawn installs the hub's real .deb with dpkg in one booted
// container (its own network, so the hub's :8443 is the container's): the
// service starts as the carrel-hub user and listens, comes back after kill -9,
// and purge leaves no file, user, group or unit. One container for the whole
// test: a boot is the expensive part.
func TestHubInNspawn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: boots a container")
	}
	needTool(t, "systemd-nspawn", "systemd-container")
	needTool(t, "nsenter", "util-linux")
	needTool(t, "unshare", "util-linux")
	ctx := context.Background()
	bin := testbin.Build(t, testbin.Options{GOOS: "linux", GOARCH: "amd64", Release: true}, "carrel-hub")["carrel-hub"]
	deb, err := BuildHubDeb(ctx, HubOptions{Version: "1.0.0", HubBinary: bin, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	bctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	c, err := nspawn.StartWith(bctx, nspawn.Options{PrivateNetwork: true})
	cancel()
	if err != nil {
		t.Fatalf("boot container: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close container %s: %v", c.Name, err)
		}
	})
	run := func(args ...string) (string, error) {
		out, err := c.Exec(ctx, args...)
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := run("sh", "-c", "systemctl status carrel-hub.service --no-pager; journalctl --no-pager -n 60 -u carrel-hub")
			t.Logf("--- carrel-hub in the container:\n%s", out)
		}
	})
	// As in TestDebInNspawn: the image's policy-rc.d forbids starting services.
	must("rm", "-f", "/usr/sbin/policy-rc.d")
	before := listing(t, c)
	accounts := must("sh", "-c", "cat /etc/passwd /etc/group /etc/shadow /etc/gshadow")

	t.Run("deb", func(t *testing.T) { hubDebInContainer(t, c, deb, before, accounts) })
}

// hubDebInContainer installs, checks, kills and purges the hub's .deb in c.
func hubDebInContainer(t *testing.T, c *nspawn.Container, deb string, before map[string]bool, accounts string) {
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		out, err := c.Exec(ctx, args...)
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := c.CopyIn(deb, "/run/carrel-hub.deb", 0o644); err != nil {
		t.Fatal(err)
	}
	must("dpkg", "-i", "/run/carrel-hub.deb")

	mainPID := func() string {
		out, _ := run("systemctl", "show", "-p", "MainPID", "--value", "carrel-hub.service")
		return strings.TrimSpace(out)
	}
	// Serving: the process systemd started wrote hub.json and the port answers.
	serving := func(pid string) bool {
		if pid == "" || pid == "0" {
			return false
		}
		b, err := run("cat", "/var/lib/carrel-hub/"+hub.PublishFile)
		var p hub.Published
		if err != nil || json.Unmarshal([]byte(b), &p) != nil || p.PID == 0 || p.Fingerprint == "" {
			return false
		}
		if strconv.Itoa(p.PID) != pid {
			return false
		}
		_, err = run("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8443")
		return err == nil
	}
	var pid string
	testbin.WaitFor(t, 60*time.Second, "carrel-hub.service active and listening on :8443", func() bool {
		pid = mainPID()
		return serving(pid)
	})
	if got := strings.TrimSpace(must("systemctl", "is-enabled", "carrel-hub.service")); got != "enabled" {
		t.Errorf("unit is %q, want enabled", got)
	}
	if out, err := run("systemd-analyze", "verify", "--man=no", "/lib/systemd/system/carrel-hub.service"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify in the container: %v\n%s", err, out)
	}
	if got := strings.Join(strings.Fields(must("stat", "-c", "%a %U %G", "/var/lib/carrel-hub")), " "); got != "700 carrel-hub carrel-hub" {
		t.Errorf("data dir is %q, want 700 carrel-hub carrel-hub", got)
	}
	if got := strings.TrimSpace(must("ps", "-o", "user=", "-p", pid)); got != "carrel-hub" {
		t.Errorf("the hub runs as %q, want carrel-hub", got)
	}
	// The unit asks for 65536 descriptors (20,000 agents); systemd grants at
	// most the host's hard limit (20,000 on the CI machines, 2026-12).
	procHard := strings.Fields(must("sh", "-c", "grep 'open files' /proc/"+pid+"/limits"))[4]
	hostHard := strings.TrimSpace(must("sh", "-c", "ulimit -Hn"))
	unitLimit := strings.TrimSpace(must("systemctl", "show", "-p", "LimitNOFILE", "--value", "carrel-hub.service"))
	if want := min(65536, atoi(t, hostHard)); unitLimit != "65536" || atoi(t, procHard) != want {
		t.Errorf("open files: unit %s, the hub's hard limit %s (host hard limit %s); want 65536, or the host's limit if lower", unitLimit, procHard, hostHard)
	}
	if shell := strings.TrimSpace(must("getent", "passwd", "carrel-hub")); !strings.HasSuffix(shell, ":/usr/sbin/nologin") {
		t.Errorf("carrel-hub user: %s", shell)
	}

	// Restart=always: a killed hub comes back and serves again.
	must("kill", "-9", pid)
	testbin.WaitFor(t, 60*time.Second, "systemd to restart the killed hub, serving again", func() bool {
		p := mainPID()
		return p != pid && serving(p)
	})

	must("apt-get", "purge", "-y", "-q", "carrel-hub")
	if out, _ := run("systemctl", "is-active", "carrel-hub.service"); strings.TrimSpace(out) == "active" {
		t.Error("service still active after purge")
	}
	if out, err := run("pgrep", "-x", "carrel-hub"); err == nil {
		t.Errorf("carrel-hub still running after purge: %s", out)
	}
	for _, db := range []string{"passwd", "group"} {
		if out, err := run("getent", db, "carrel-hub"); err == nil {
			t.Errorf("purge left the %s entry: %s", db, out)
		}
	}
	if now := must("sh", "-c", "cat /etc/passwd /etc/group /etc/shadow /etc/gshadow"); now != accounts {
		t.Errorf("purge left the account files changed")
	}
	must("systemctl", "daemon-reload")
	added, removed := diffListing(before, listing(t, c))
	// apt's PackageKit hook keeps its own record of the transaction, as dpkg does.
	added = slices.DeleteFunc(added, func(p string) bool { return strings.HasPrefix(p, "/var/lib/PackageKit/") })
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("purge left the system changed:\nadded:   %v\nremoved: %v", added, removed)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
