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

// TestHubInNspawn runs the hub as a service in one booted container (its own
// network, so the hub's :8443 is the container's), one way after the other:
// first `carrel-hub install|status|stop|start|uninstall` through kardianos
// with the real systemd, then the real .deb with dpkg: the service starts as
// the carrel-hub user and listens, comes back after kill -9, and purge leaves
// no file, user, group or unit. One container for both: a boot is the
// expensive part.
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
	// The same hub as a later version, to upgrade to.
	debNext, err := BuildHubDeb(ctx, HubOptions{Version: "1.0.1", HubBinary: bin, OutDir: t.TempDir()})
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

	if !t.Run("cli", func(t *testing.T) { hubCLIInContainer(t, c, bin, before) }) {
		return
	}
	t.Run("deb", func(t *testing.T) { hubDebInContainer(t, c, deb, debNext, before, accounts) })
}

// hubServing reports whether the process pid is the hub serving dataDir: it
// wrote hub.json with its PID, and the port answers.
func hubServing(c *nspawn.Container, dataDir, port, pid string) bool {
	ctx := context.Background()
	if pid == "" || pid == "0" {
		return false
	}
	b, err := c.Exec(ctx, "cat", dataDir+"/"+hub.PublishFile)
	var p hub.Published
	if err != nil || json.Unmarshal(b, &p) != nil || p.Fingerprint == "" || strconv.Itoa(p.PID) != pid {
		return false
	}
	_, err = c.Exec(ctx, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+port)
	return err == nil
}

func hubMainPID(c *nspawn.Container) string {
	out, _ := c.Exec(context.Background(), "systemctl", "show", "-p", "MainPID", "--value", "carrel-hub.service")
	return strings.TrimSpace(string(out))
}

// hubCLIInContainer installs the hub with its own command line in c, drives
// it, and uninstalls it with --purge: nothing is left.
func hubCLIInContainer(t *testing.T, c *nspawn.Container, bin string, before map[string]bool) {
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
	if err := c.CopyIn(bin, "/usr/local/bin/carrel-hub", 0o755); err != nil {
		t.Fatal(err)
	}
	defer run("rm", "-f", "/usr/local/bin/carrel-hub")
	const data, port = "/srv/carrel-hub", "8444"
	out, err := run("carrel-hub", "status")
	if err == nil || !strings.Contains(out, "Service:  not installed\ncarrel-hub is not installed as a service.") || !strings.Contains(out, "carrel-hub install --name HOST") {
		t.Errorf("status before install: %v\n%s", err, out)
	}
	out = must("carrel-hub", "install", "--data", data, "--listen", ":"+port, "--name", "hub.library.test")
	if !strings.Contains(out, "Service installed: carrel-hub (data in "+data+")") || !strings.Contains(out, "Service running") {
		t.Errorf("install printed:\n%s", out)
	}
	unit := must("cat", "/etc/systemd/system/carrel-hub.service")
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/carrel-hub serve --data "+data+" --listen :"+port+" --name hub.library.test $CARREL_HUB_OPTS\n") {
		t.Errorf("installed unit:\n%s", unit)
	}
	testbin.WaitFor(t, 60*time.Second, "the installed hub serving on :"+port, func() bool {
		return hubServing(c, data, port, hubMainPID(c))
	})
	if out, err := run("carrel-hub", "status"); err != nil || strings.TrimSpace(out) != "Service:  running" {
		t.Errorf("status: %v\n%s", err, out)
	}
	if out := must("carrel-hub", "install", "--data", data); !strings.Contains(out, "already installed") {
		t.Errorf("second install printed:\n%s", out)
	}
	must("carrel-hub", "stop")
	if out, err := run("carrel-hub", "status"); err == nil || strings.TrimSpace(out) != "Service:  stopped" {
		t.Errorf("status after stop: %v\n%s", err, out)
	}
	must("carrel-hub", "start")
	testbin.WaitFor(t, 60*time.Second, "the hub serving again after start", func() bool {
		return hubServing(c, data, port, hubMainPID(c))
	})
	out = must("carrel-hub", "uninstall", "--data", data, "--purge")
	if !strings.Contains(out, "Service removed: carrel-hub") || !strings.Contains(out, "Removed "+data) {
		t.Errorf("uninstall printed:\n%s", out)
	}
	if out := must("carrel-hub", "uninstall"); !strings.Contains(out, "was not installed") {
		t.Errorf("second uninstall printed:\n%s", out)
	}
	if out, err := run("carrel-hub", "start"); err == nil || !strings.Contains(out, "not installed as a service") {
		t.Errorf("start after uninstall: %v\n%s", err, out)
	}
	must("rm", "/usr/local/bin/carrel-hub")
	must("systemctl", "daemon-reload")
	added, removed := diffListing(before, listing(t, c))
	if len(added) > 0 || len(removed) > 0 {
		t.Errorf("uninstall --purge left the system changed:\nadded:   %v\nremoved: %v", added, removed)
	}
}

// hubDebInContainer installs, checks, kills, restores, upgrades (to debNext)
// and purges the hub's .deb in c.
func hubDebInContainer(t *testing.T, c *nspawn.Container, deb, debNext string, before map[string]bool, accounts string) {
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

	mainPID := func() string { return hubMainPID(c) }
	serving := func(pid string) bool { return hubServing(c, "/var/lib/carrel-hub", "8443", pid) }
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
	// The package owns this service: the command line leaves it alone.
	if out, err := run("/usr/bin/carrel-hub", "install"); err == nil || !strings.Contains(out, "installed by its package") {
		t.Errorf("carrel-hub install over the package: %v\n%s", err, out)
	}
	if out, err := run("/usr/bin/carrel-hub", "status"); err != nil || !strings.Contains(out, "running (installed by the carrel-hub package)") {
		t.Errorf("status of the package's hub: %v\n%s", err, out)
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

	// Back up and restore as IT would, as root on the hub's own user's data:
	// refused while it runs; once stopped, restored, and the hub (its user)
	// starts on the restored database.
	const data = "/var/lib/carrel-hub"
	must("carrel-hub", "backup", "--data", data, "/run/hub-backup.db")
	if out, err := run("carrel-hub", "restore", "/run/hub-backup.db", "--data", data); err == nil || !strings.Contains(out, "a hub is running on "+data) {
		t.Errorf("restore into the running hub: %v\n%s", err, out)
	}
	must("systemctl", "stop", "carrel-hub.service")
	if out := must("carrel-hub", "restore", "/run/hub-backup.db", "--data", data); !strings.Contains(out, "audit log:") {
		t.Errorf("restore printed:\n%s", out)
	}
	if got := strings.Fields(must("stat", "-c", "%U %a", data+"/hub.db")); strings.Join(got, " ") != "carrel-hub 600" {
		t.Errorf("restored hub.db is %v, want carrel-hub 600", got)
	}
	must("systemctl", "start", "carrel-hub.service")
	testbin.WaitFor(t, 60*time.Second, "the hub serving its restored database", func() bool { return serving(mainPID()) })
	if out, err := run("carrel-hub", "audit", "verify", "--data", data, "--backup", "/run/hub-backup.db"); err != nil || !strings.Contains(out, ": holds") {
		t.Errorf("audit verify after restore: %v\n%s", err, out)
	}
	must("rm", "/run/hub-backup.db")

	// Upgrade: the new version's postinst restarts the hub on the same data
	// (the same CA, so every PC still trusts it); the user stays.
	published := func() hub.Published {
		var p hub.Published
		json.Unmarshal([]byte(must("cat", data+"/"+hub.PublishFile)), &p)
		return p
	}
	pid, fp := mainPID(), published().Fingerprint
	if err := c.CopyIn(debNext, "/run/carrel-hub-next.deb", 0o644); err != nil {
		t.Fatal(err)
	}
	must("dpkg", "-i", "/run/carrel-hub-next.deb")
	must("rm", "/run/carrel-hub.deb", "/run/carrel-hub-next.deb")
	if v := must("dpkg-query", "-W", "-f", "${Version}", "carrel-hub"); v != "1.0.1-1" {
		t.Errorf("installed version after upgrade: %q", v)
	}
	testbin.WaitFor(t, 60*time.Second, "the upgraded hub restarted and serving", func() bool {
		p := mainPID()
		return p != pid && serving(p)
	})
	if got := published().Fingerprint; got != fp {
		t.Errorf("CA fingerprint after upgrade %s, before %s", got, fp)
	}
	if got := strings.TrimSpace(must("stat", "-c", "%U", data+"/hub.db")); got != "carrel-hub" {
		t.Errorf("hub.db after upgrade owned by %s", got)
	}

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
