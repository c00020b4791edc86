//go:build linux

package wipe

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The carrel-agent binary end to end, in a private mount namespace with a real
// account: "template capture", then "wipe" of a home with a running session,
// then the refusals (exit 1, a clear message, nothing touched).
func TestCLIEndToEnd(t *testing.T) {
	if !inMountNS(t) {
		return
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not on PATH")
	}
	// the binary goes to a private tmpfs on /mnt; nothing is created on the
	// host's /tmp, which is replaced by a tmpfs below
	mount(t, "-t", "tmpfs", "-o", "size=64m", "tmpfs", "/mnt")
	bin := "/mnt/carrel-agent"
	build := exec.Command(gobin, "build", "-o", bin, "github.com/carrel-kiosk/carrel/cmd/carrel-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build carrel-agent: %v\n%s", err, out)
	}
	for _, d := range []string{"/var/tmp", "/dev/shm", "/home"} {
		mount(t, "-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", d)
	}
	mount(t, "-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", "/tmp")
	os.Chmod("/home", 0o755)
	work := t.TempDir()
	mustRun(t, "cp", "-a", "/etc", filepath.Join(work, "etc"))
	mount(t, "--bind", filepath.Join(work, "etc"), "/etc")
	mustRun(t, "groupadd", "carrel-patrons")
	mustRun(t, "useradd", "-m", "-u", freeUID(t), "-G", "carrel-patrons", "-s", "/bin/sh", "pat")
	tmpl := filepath.Join(work, "template")
	journal := filepath.Join(work, "journal")

	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if out, errs, code := run("template", "capture", "--from", "/home/pat", "--to", tmpl); code != 0 {
		t.Fatalf("capture: %d %s %s", code, out, errs)
	}
	mustRun(t, "runuser", "-u", "pat", "--", "sh", "-c",
		`cd && mkdir -p Downloads && head -c 100000 /dev/urandom > Downloads/big && ln -s /etc/shadow s && echo x > /tmp/pat-x`)
	sess := exec.Command("runuser", "-u", "pat", "--", "sh", "-c", `while :; do echo y >> ~/log; done`)
	if err := sess.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	shadowBefore, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}

	out, errs, code := run("wipe", "--home", "/home/pat", "--template", tmpl, "--journal", journal)
	if code != 0 {
		t.Fatalf("wipe: exit %d\n%s\n%s", code, out, errs)
	}
	var rep struct {
		FilesRemoved  int64             `json:"files_removed"`
		BytesRemoved  int64             `json:"bytes_removed"`
		MsUntilReady  *int64            `json:"ms_until_ready"`
		MsUntilPurged *int64            `json:"ms_until_purged"`
		Verified      bool              `json:"verified"`
		Leftovers     []json.RawMessage `json:"leftovers"`
		Refusals      []string          `json:"refusals"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if !rep.Verified || rep.FilesRemoved < 3 || rep.BytesRemoved < 100000 || rep.MsUntilReady == nil || rep.MsUntilPurged == nil ||
		rep.Leftovers == nil || len(rep.Leftovers) != 0 || rep.Refusals == nil {
		t.Fatalf("report: %s", out)
	}
	<-done // the session was ended by the wipe
	if _, err := os.Lstat("/tmp/pat-x"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("patron temp file left")
	}
	if after, _ := os.ReadFile("/etc/shadow"); string(after) != string(shadowBefore) {
		t.Fatalf("/etc/shadow not restored after the wipe:\n%s\n%s", shadowBefore, after)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"wipe", "--home", "/etc", "--template", tmpl, "--journal", journal, "--user", "pat"}, "top-level"},
		{[]string{"wipe", "--home", "/home/pat", "--template", tmpl, "--journal", journal, "--user", "root"}, "min_uid"},
		{[]string{"wipe", "--home", "/home/pat", "--template", tmpl, "--journal", journal, "--patron-group", "nobody-group"}, "not a patron"},
	} {
		before := snapshot(t, "/home")
		out, errs, code := run(c.args...)
		if code != 1 || !strings.Contains(errs, "refused") || !strings.Contains(errs, c.want) || !strings.Contains(out, `"refusals": [`) {
			t.Errorf("%v: exit %d\nstdout %s\nstderr %s", c.args, code, out, errs)
		}
		sameSnapshot(t, "/home after a refusal", before, snapshot(t, "/home"))
	}
	if out, _, code := run("wipe", "--help"); code != 0 {
		t.Errorf("wipe --help: exit %d", code)
	} else if _, errs, _ := run("wipe", "--help"); !strings.Contains(errs+out, "ms_until_ready") {
		t.Errorf("wipe --help does not explain the report")
	}
	if _, _, code := run("wipe"); code != 2 {
		t.Errorf("wipe without --home: exit %d, want 2", code)
	}
}
