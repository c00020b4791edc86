//go:build linux

package installer

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/nspawn"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// bootContainer is nspawn.Boot with a longer boot deadline: on a loaded CI
// machine (2 cores shared by many tests) the container's services can take
// more than nspawn.BootTimeout to settle.
func bootContainer(t *testing.T) *nspawn.Container {
	t.Helper()
	needTool(t, "systemd-nspawn", "systemd-container")
	needTool(t, "nsenter", "util-linux")
	needTool(t, "unshare", "util-linux")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := nspawn.Start(ctx)
	if err != nil {
		t.Fatalf("boot container: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close container %s: %v", c.Name, err)
		}
	})
	return c
}

// listing is every path on the container's root filesystem that a package
// could leave behind (the same file system only: /proc, /sys, /dev, /run and
// /tmp are other mounts), minus what changes by itself and what the host
// changes under the overlay while the test runs (/root's Go caches, the
// checkout under /work).
func listing(t *testing.T, c *nspawn.Container) map[string]bool {
	t.Helper()
	// Only where a package or a service install writes: the container's root
	// is the host's tree, so a test elsewhere (a checkout in /check, a build
	// cache) writing at the same time must not count.
	out, err := c.Exec(context.Background(), "find", "/etc", "/usr", "/var", "/opt", "/srv", "/home", "-xdev",
		"(", "-path", "/root", "-o", "-path", "/work", "-o", "-path", "/var/log", "-o", "-path", "/var/cache", "-o", "-path", "/var/tmp", "-o", "-path", "/var/lib/systemd/timers",
		"-o", "-path", "/var/lib/systemd/random-seed", "-o", "-path", "/var/lib/dpkg", "-o", "-path", "/var/lib/systemd/catalog", ")", "-prune",
		"-o", "-print")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			m[l] = true
		}
	}
	return m
}

func diffListing(before, after map[string]bool) (added, removed []string) {
	for p := range after {
		if !before[p] {
			added = append(added, p)
		}
	}
	for p := range before {
		if !after[p] {
			removed = append(removed, p)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// TestDebInNspawn installs the real .deb with dpkg in a systemd container,
// enrolls with a real hub through the preseed environment, and purges it.
func TestDebInNspawn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: boots a container")
	}
	needTool(t, "systemd-nspawn", "systemd-container")
	needTool(t, "dpkg-deb", "dpkg")
	ctx := context.Background()

	agent := buildAgent(t, "linux")
	deb, err := BuildDeb(ctx, Options{Version: "1.0.0", AgentBinary: agent, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hub := startHub(t)
	tok := hub.Token(t, 1)
	token, fp := tok.Token, tok.Fingerprint

	c := bootContainer(t)
	exec := func(args ...string) string {
		t.Helper()
		out, err := c.Exec(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	dumpOnFailure := func() {
		if t.Failed() {
			out, _ := c.Exec(ctx, "sh", "-c", "systemctl status carrel-agent.service --no-pager; journalctl --no-pager -n 60; ls -la /etc/carrel /lib/systemd/system/carrel-agent.service /etc/systemd/system/multi-user.target.wants/")
			t.Logf("--- journal of carrel-agent in the container:\n%s", out)
		}
	}
	t.Cleanup(dumpOnFailure)

	// This machine's image (like many CI images built from Docker) has a
	// policy-rc.d that forbids maintainer scripts to start services; a real
	// PC has none. Remove it in the container so postinst behaves as on a PC.
	exec("rm", "-f", "/usr/sbin/policy-rc.d")
	before := listing(t, c)
	if err := c.CopyIn(deb, "/run/carrel-agent.deb", 0o644); err != nil {
		t.Fatal(err)
	}
	exec("env", "HUB_URL="+hub.URL(), "HUB_FINGERPRINT="+fp, "ENROLL_TOKEN="+token,
		"dpkg", "-i", "/run/carrel-agent.deb")

	active := func() bool {
		out, _ := c.Exec(ctx, "systemctl", "is-active", "carrel-agent.service")
		return strings.TrimSpace(string(out)) == "active"
	}
	testbin.WaitFor(t, 30*time.Second, "carrel-agent.service active", active)
	if got := strings.TrimSpace(exec("systemctl", "is-enabled", "carrel-agent.service")); got != "enabled" {
		t.Errorf("unit is %q, want enabled", got)
	}
	// The unit as shipped and installed verifies in a real systemd.
	if out, err := c.Exec(ctx, "systemd-analyze", "verify", "--man=no", "/lib/systemd/system/carrel-agent.service"); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify in the container: %v\n%s", err, out)
	}

	var term testbin.Terminal
	testbin.WaitFor(t, 60*time.Second, "the PC online at the hub", func() bool {
		on := hub.Online(t)
		if len(on) == 1 {
			term = on[0]
			return true
		}
		return false
	})
	if term.OS != "linux" {
		t.Errorf("terminal = %+v", term)
	}
	// The agent logs to the journal in its native protocol: its agent.started
	// event carries its event ID and priority, findable as IT would
	// (journalctl -u carrel-agent CARREL_EVENT_ID=100).
	testbin.WaitFor(t, 30*time.Second, "agent.started in the journal with its event ID", func() bool {
		out, _ := c.Exec(ctx, "journalctl", "--no-pager", "-u", "carrel-agent.service", "-o", "json", "CARREL_EVENT_ID=100")
		return strings.Contains(string(out), `"MESSAGE":"Event agent.started"`) && strings.Contains(string(out), `"PRIORITY":"6"`) &&
			strings.Contains(string(out), `"SYSLOG_IDENTIFIER":"carrel-agent"`)
	})
	// The token is single-use and spent: the preseed must not keep it.
	preseed := exec("cat", "/etc/carrel/enroll.env")
	if strings.Contains(preseed, token) || !strings.Contains(preseed, "HUB_URL="+hub.URL()) {
		t.Errorf("preseed after enrollment:\n%s", preseed)
	}
	if got := strings.Fields(exec("stat", "-c", "%a %U", "/etc/carrel/enroll.env", "/var/lib/carrel-agent")); strings.Join(got, " ") != "600 root 700 root" {
		t.Errorf("modes = %v, want the preseed 600 and the state dir 700, root", got)
	}

	// A patron, an ordinary unprivileged user, can neither stop, disable, kill
	// nor reconfigure the service, nor read its preseed or state.
	for _, cmd := range []string{
		"systemctl stop carrel-agent.service",
		"systemctl disable carrel-agent.service",
		"systemctl mask carrel-agent.service",
		"kill -TERM $(systemctl show -p MainPID --value carrel-agent.service)",
		"echo 'log_level = \"debug\"' >> /etc/carrel/agent.toml",
		"cat /etc/carrel/enroll.env",
		"ls /var/lib/carrel-agent",
	} {
		out, err := c.Exec(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", cmd)
		if err == nil {
			t.Errorf("an unprivileged user could: %s\n%s", cmd, out)
		}
	}
	if !active() {
		t.Error("the service is not active after an unprivileged user's attempts to stop it")
	}
	if cfg := exec("cat", "/etc/carrel/agent.toml"); strings.Contains(cfg, `log_level = "debug"`) {
		t.Error("an unprivileged user changed the agent's configuration")
	}

	// Restart=always: a killed agent comes back and reconnects.
	pid := strings.TrimSpace(exec("systemctl", "show", "-p", "MainPID", "--value", "carrel-agent.service"))
	exec("kill", "-9", pid)
	testbin.WaitFor(t, 30*time.Second, "systemd to restart the killed agent", func() bool {
		out, _ := c.Exec(ctx, "systemctl", "show", "-p", "MainPID", "--value", "carrel-agent.service")
		p := strings.TrimSpace(string(out))
		return p != pid && p != "0" && active()
	})
	testbin.WaitFor(t, 60*time.Second, "the restarted agent online again", func() bool {
		on := hub.Online(t)
		return len(on) == 1 && on[0].ID == term.ID
	})

	exec("dpkg", "--purge", "carrel-agent")
	if out, _ := c.Exec(ctx, "systemctl", "is-active", "carrel-agent.service"); strings.TrimSpace(string(out)) == "active" {
		t.Error("service still active after purge")
	}
	if out, err := c.Exec(ctx, "pgrep", "-x", "carrel-agent"); err == nil {
		t.Errorf("carrel-agent still running after purge: %s", out)
	}
	added, removed := diffListing(before, listing(t, c))
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("purge left the system changed:\nadded:   %v\nremoved: %v", added, removed)
	}
}
