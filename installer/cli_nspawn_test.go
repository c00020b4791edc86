//go:build linux

package installer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestCLIInstallInNspawn drives `carrel-agent install|status|stop|start|uninstall`
// with the real kardianos systemd backend in a container: first against a hub
// that is not up yet (installed, "not enrolled yet"), then the hub comes up on
// that address and the service enrolls from the preseed on its own; install
// again is harmless; uninstall --purge leaves nothing.
func TestCLIInstallInNspawn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: boots a container")
	}
	needTool(t, "systemd-nspawn", "systemd-container")
	ctx := context.Background()
	agent := buildAgent(t, "linux")

	// Reserve the hub's address and its CA before it serves: start it once to
	// make the CA and token, stop it, start it again later on the same port.
	hub := startHub(t)
	tok := hub.Token(t, 1)
	token, fp := tok.Token, tok.Fingerprint
	hub.Stop(t)

	c := bootContainer(t)
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
			out, _ := run("journalctl", "-u", "carrel-agent", "--no-pager", "-n", "60")
			t.Logf("--- journal:\n%s", out)
		}
	})
	if err := c.CopyIn(agent, "/usr/local/bin/carrel-agent", 0o755); err != nil {
		t.Fatal(err)
	}
	before := listing(t, c)

	out := must("carrel-agent", "install", "--hub", hub.URL(), "--fingerprint", fp, "--token", token)
	if !strings.Contains(out, "Service installed") || !strings.Contains(out, "Not enrolled yet") {
		t.Fatalf("install with the hub down printed:\n%s", out)
	}
	unit := must("cat", "/etc/systemd/system/carrel-agent.service")
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/carrel-agent service --config /etc/carrel/agent.toml") || !strings.Contains(unit, "Restart=always") {
		t.Errorf("installed unit:\n%s", unit)
	}
	status, err := run("carrel-agent", "status")
	if err != nil || !strings.Contains(status, "Service:  running") || !strings.Contains(status, "not yet") {
		t.Errorf("status with the hub down: %v\n%s", err, status)
	}

	hub.Restart(t)
	testbin.WaitFor(t, 3*time.Minute, "the service to enroll from the preseed and come online", func() bool {
		return len(hub.Online(t)) == 1
	})
	status = must("carrel-agent", "status")
	if !strings.Contains(status, "Enrolled: yes") {
		t.Errorf("status after enrollment:\n%s", status)
	}
	if pre := must("cat", "/etc/carrel/enroll.env"); strings.Contains(pre, token) {
		t.Errorf("token left in the preseed:\n%s", pre)
	}

	out = must("carrel-agent", "install")
	if !strings.Contains(out, "already installed") || !strings.Contains(out, "Enrolled.") {
		t.Errorf("second install printed:\n%s", out)
	}
	must("carrel-agent", "stop")
	if out, _ := run("systemctl", "is-active", "carrel-agent"); strings.TrimSpace(out) == "active" {
		t.Error("still active after stop")
	}
	if _, err := run("carrel-agent", "status"); err == nil {
		t.Error("status exit code 0 for a stopped service; want 3")
	}
	must("carrel-agent", "start")
	testbin.WaitFor(t, 30*time.Second, "active again", func() bool {
		out, _ := run("systemctl", "is-active", "carrel-agent")
		return strings.TrimSpace(out) == "active"
	})

	out = must("carrel-agent", "uninstall", "--purge")
	if !strings.Contains(out, "Service removed") || !strings.Contains(out, "/var/lib/carrel-agent") {
		t.Errorf("uninstall printed:\n%s", out)
	}
	out = must("carrel-agent", "uninstall", "--purge")
	if !strings.Contains(out, "was not installed") {
		t.Errorf("second uninstall printed:\n%s", out)
	}
	if _, err := run("carrel-agent", "start"); err == nil {
		t.Error("start of an uninstalled service succeeded")
	}
	must("rm", "/usr/local/bin/carrel-agent")
	// systemd keeps a record of the failed/stopped unit; reload so it forgets.
	must("systemctl", "daemon-reload")
	added, removed := diffListing(before, listing(t, c))
	var left []string
	for _, p := range added {
		if p != "/usr/local/bin/carrel-agent" {
			left = append(left, p)
		}
	}
	if len(left) > 0 || len(removed) > 1 {
		t.Errorf("uninstall --purge left the system changed:\nadded:   %v\nremoved: %v", left, removed)
	}
}
