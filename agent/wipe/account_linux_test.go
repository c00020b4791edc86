//go:build linux

package wipe

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/agent/wipe/template"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func shadowExpiry(t *testing.T, user string) string {
	t.Helper()
	data, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 8 && f[0] == user {
			return f[7]
		}
	}
	t.Fatalf("%s not in /etc/shadow", user)
	return ""
}

// A real patron account, created with useradd in a private mount namespace where
// /etc is a private copy and /home, /tmp, /var/tmp and /dev/shm are fresh tmpfs
// (the host's accounts and files are never touched). Everything is the real
// thing: the OS user database, the chage-based logon gate (checked with su,
// which runs the PAM account stack), the /proc process killer, the default temp
// dirs.
func TestRealPatronAccount(t *testing.T) {
	if !inMountNS(t) {
		return
	}
	for _, tool := range []string{"useradd", "groupadd", "chage", "su", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm", "/home"} {
		mount(t, "-t", "tmpfs", "-o", "mode=1777,size=64m", "tmpfs", d)
	}
	os.Chmod("/home", 0o755)
	work := t.TempDir() // on the private /tmp
	etc := filepath.Join(work, "etc")
	mustRun(t, "cp", "-a", "/etc", etc)
	mount(t, "--bind", etc, "/etc")
	mustRun(t, "groupadd", "carrel-patrons")
	mustRun(t, "useradd", "-m", "-u", freeUID(t), "-G", "carrel-patrons", "-s", "/bin/sh", "patron1")
	acct, err := osUsers{}.Lookup("patron1")
	if err != nil {
		t.Fatal(err)
	}
	if acct.Home != "/home/patron1" || acct.UID < 1000 {
		t.Fatalf("account = %+v", acct)
	}
	state := filepath.Join(work, "state")
	cfg := DefaultConfig() // real temp dirs (private tmpfs here), group policy
	cfg.TemplateDir = filepath.Join(state, "template")
	cfg.JournalDir = filepath.Join(state, "wipe")
	cfg.ProtectedDirs = []string{state}
	cfg.PrintSpoolDirs = []string{}
	if _, err := template.Capture(acct.Home, cfg.TemplateDir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("su", "-s", "/bin/sh", "patron1", "-c", "true").CombinedOutput(); err != nil {
		t.Fatalf("su before the wipe: %v %s", err, out)
	}

	// the patron's session: a process that keeps writing in the home and in /tmp
	sess := exec.Command("runuser", "-u", "patron1", "--", "sh", "-c",
		`cd && mkdir -p .local/share/keyrings && echo k > .local/share/keyrings/login.keyring && i=0 && while :; do i=$((i+1)); echo $i >> notes.txt; echo $i > /tmp/p1-$i; echo $i > /dev/shm/p1; done`)
	if err := sess.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat("/tmp/p1-5"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("patron session never wrote")
		}
		runtimeGosched()
	}

	sink := &eventrec.Recorder{}
	sink.CheckContract(t)
	e, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), sink, WithPrintQueue(nil)) // no CUPS here
	if err != nil {
		t.Fatal(err)
	}
	var heldChecked bool
	e.hook = func(step string, recorded bool) {
		if step == stepHeld && recorded {
			heldChecked = true
			if got := shadowExpiry(t, "patron1"); got != "1" {
				t.Errorf("account expiry while held = %q, want 1", got)
			}
			if err := exec.Command("su", "-s", "/bin/sh", "patron1", "-c", "true").Run(); err == nil {
				t.Error("su into the held account succeeded")
			}
		}
	}
	rep, err := e.Wipe(context.Background(), Scope{User: "patron1"})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Ready || !rep.Verified || !heldChecked {
		t.Fatalf("report = %+v (hold checked: %v)", rep, heldChecked)
	}
	select {
	case err := <-ended:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("session ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		out, _ := exec.Command("ps", "-eo", "pid,ppid,uid,ruid,stat,args").CombinedOutput()
		t.Fatalf("patron session still running after the wipe:\n%s", out)
	}
	if pids, err := (procKiller{proc: "/proc"}).pidsOf(acct.UID); err != nil || len(pids) != 0 {
		t.Fatalf("processes of the patron left: %v %v", pids, err)
	}
	prep, err := e.Purge(context.Background(), rep.ID)
	if err != nil || !prep.Purged {
		t.Fatalf("purge = %+v %v", prep, err)
	}
	tp, err := template.Load(cfg.TemplateDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(acct.Home)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d := tp.Compare(r, acct.UID, acct.GID, 0); len(d) != 0 {
		t.Fatalf("home differs from the template: %v", d)
	}
	for _, g := range []string{"/tmp/p1-*", "/dev/shm/p1"} {
		if m, _ := filepath.Glob(g); len(m) != 0 {
			t.Fatalf("patron files left: %v", m[:min(3, len(m))])
		}
	}
	if got := shadowExpiry(t, "patron1"); got != "" {
		t.Fatalf("account expiry after release = %q, want it restored to empty", got)
	}
	if out, err := exec.Command("su", "-s", "/bin/sh", "patron1", "-c", "true").CombinedOutput(); err != nil {
		t.Fatalf("su after the wipe: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(cfg.JournalDir, "hold-patron1.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("gate state left: %v", err)
	}
	if !sink.Has(protocol.EventWipeDone) {
		t.Fatal("no wipe.done")
	}
}

// freeUID picks a uid that no account and no process on this machine has. The
// test shares the host's process table (only its mounts are private), and the
// wipe ends every process of the patron's uid: useradd's default (often 1000)
// could be a developer's own uid or another test's container patron.
func freeUID(t *testing.T) string {
	t.Helper()
	for uid := 420000 + os.Getpid()%40000; uid < 480000; uid++ {
		if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			continue
		}
		if pids, err := (procKiller{proc: "/proc"}).pidsOf(uid); err != nil || len(pids) > 0 {
			continue
		}
		return strconv.Itoa(uid)
	}
	t.Fatal("no free uid between 420000 and 480000")
	return ""
}
