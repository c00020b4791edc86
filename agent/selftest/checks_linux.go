//go:build linux

package selftest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/carrel-kiosk/carrel/agent/wipe"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// CanaryAccount is the account the wipe and logon-gate checks make, use and
// remove. It has no password and no shell; the self-test never touches an
// account that it did not make (its comment says it did).
const CanaryAccount = "carrel-canary"

const canaryComment = "Carrel self-test canary (removed after each self-test)"

func sharedTempDirs() []string { return []string{"/tmp", "/var/tmp", "/dev/shm"} }

const programExt = ""

// placeProgram puts a copy of /bin/true at path without the download guard
// seeing it: the file is written unnamed (O_TMPFILE) in path's directory and
// then linked in, which raises neither close-write nor moved-to (the file
// guard's documented blind spot), so only the exec guard stands between the
// canary and a run.
func placeProgram(path string) error {
	src, err := os.Open("/bin/true")
	if err != nil {
		if src, err = os.Open("/usr/bin/true"); err != nil {
			return err
		}
	}
	defer src.Close()
	fd, err := unix.Open(filepath.Dir(path), unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o755)
	if err != nil {
		return fmt.Errorf("O_TMPFILE in %s: %w", filepath.Dir(path), err)
	}
	f := os.NewFile(uintptr(fd), "canary")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	if err := unix.Fchmod(fd, 0o755); err != nil {
		f.Close()
		return err
	}
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW); err != nil {
		f.Close()
		return fmt.Errorf("link the canary in: %w", err)
	}
	return f.Close()
}

func runProgram(ctx context.Context, path string) error {
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = []string{}
	return cmd.Run()
}

// refusedByGuard: fanotify's denial makes execve fail with EPERM.
func refusedByGuard(err error) bool { return errors.Is(err, syscall.EPERM) }

// canaryEngine is a wipe engine for the canary account only, journaling in
// the self-test's own dir, holding logons through gate.
func canaryEngine(e *Env, gate wipe.LogonGate) (*wipe.Engine, error) {
	w := e.Config.Wipe
	cfg := wipe.Config{
		PatronUsers: []string{CanaryAccount}, PatronGroup: wipe.NoPatronGroup, MinUID: w.MinUID,
		TemplateDir: w.TemplateDir, JournalDir: filepath.Join(e.dir(), "wipe"), TrashDir: w.TrashDir,
		TempDirs: w.TempDirs, ProtectedDirs: w.ProtectedDirs, PrintSpoolDirs: []string{},
	}
	if err := os.MkdirAll(cfg.JournalDir, 0o700); err != nil {
		return nil, err
	}
	return wipe.New(cfg, e.log().With("component", "selftest_wipe"), nil, wipe.WithGate(gate))
}

// accountGate holds logons the way the seat does on Linux: the account's
// expiry date (usermod --expiredate), which PAM's account stage refuses.
type accountGate struct{}

func (accountGate) Hold(ctx context.Context, u string) error    { return usermod(ctx, u, "1") }
func (accountGate) Release(ctx context.Context, u string) error { return usermod(ctx, u, "") }

func usermod(ctx context.Context, u, expire string) error {
	if u != CanaryAccount {
		return fmt.Errorf("the self-test holds only %s", CanaryAccount)
	}
	return command(ctx, "usermod", "--expiredate", expire, u)
}

func (e *Env) gate() wipe.LogonGate {
	if e.Gate != nil {
		return e.Gate
	}
	return accountGate{}
}

func command(ctx context.Context, name string, args ...string) error {
	path, err := exec.LookPath(name)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
			if _, serr := os.Stat(filepath.Join(d, name)); serr == nil {
				path, err = filepath.Join(d, name), nil
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, errors.ErrUnsupported)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, protocol.Clip(strings.TrimSpace(out.String()), 200))
	}
	return nil
}

// ours reports whether the canary account exists and is the self-test's.
func ours() (u *user.User, exists bool) {
	u, err := user.Lookup(CanaryAccount)
	if err != nil {
		return nil, false
	}
	return u, u.Name == canaryComment
}

// makeCanaryAccount records the canary account in the ledger and makes it.
func makeCanaryAccount(ctx context.Context, e *Env) (*user.User, func(), error) {
	if u, exists := ours(); u != nil && !exists {
		return nil, nil, fmt.Errorf("an account named %s exists that the self-test did not make; it is left alone", CanaryAccount)
	}
	en := entry{Kind: entryAccount, Name: CanaryAccount}
	if err := e.record(en); err != nil {
		return nil, nil, err
	}
	done := func() {
		if err := e.undo(context.WithoutCancel(ctx), en); err != nil {
			e.log().Warn("Canary account not removed", "err", err)
		}
	}
	if u, exists := ours(); !exists || u == nil {
		if err := command(ctx, "useradd", "--create-home", "--user-group", "--shell", "/usr/sbin/nologin", "--comment", canaryComment, CanaryAccount); err != nil {
			done()
			return nil, nil, err
		}
	}
	u, exists := ours()
	if !exists {
		done()
		return nil, nil, errors.New("the canary account was not made")
	}
	if e.afterPlace != nil {
		e.afterPlace(u.HomeDir)
	}
	return u, done, nil
}

// removeCanaryAccount finishes and purges any canary wipe, then removes the
// canary account and its home, if it is the self-test's.
func removeCanaryAccount(ctx context.Context, e *Env, name string) error {
	if name != CanaryAccount {
		return fmt.Errorf("%s is not the canary account", name)
	}
	u, exists := ours()
	if u != nil && !exists {
		return nil // not ours: never touched
	}
	var errs []error
	jdir := filepath.Join(e.dir(), "wipe")
	if ents, _ := os.ReadDir(jdir); len(ents) > 0 {
		if eng, err := canaryEngine(e, e.gate()); err == nil {
			if err := eng.Resume(ctx); err != nil {
				errs = append(errs, err)
			}
			for _, d := range ents {
				if id, ok := strings.CutSuffix(d.Name(), ".wipe-journal"); ok {
					if _, err := eng.Purge(ctx, id); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
	}
	if exists {
		// A PAM login through su opened a session: logind's user manager of
		// the canary may linger, and userdel refuses an account in use.
		if _, err := exec.LookPath("loginctl"); err == nil {
			command(ctx, "loginctl", "terminate-user", CanaryAccount)
		}
		uid, _ := strconv.Atoi(u.Uid)
		var err error
		for try := 0; try < 50; try++ {
			killUID(uid)
			if err = command(ctx, "userdel", "--remove", CanaryAccount); err == nil {
				break
			}
			if _, still := ours(); !still {
				err = nil
				break
			}
			select {
			case <-ctx.Done():
				try = 50
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		os.RemoveAll(jdir)
	}
	return errors.Join(errs...)
}

// killUID sends SIGKILL to every process whose real or effective uid is
// uid (the canary account's; never 0).
func killUID(uid int) {
	if uid <= 0 {
		return
	}
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "Uid:" && (f[1] == strconv.Itoa(uid) || f[2] == strconv.Itoa(uid)) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func checkWipe(ctx context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	u, done, err := makeCanaryAccount(ctx, e)
	if errors.Is(err, errors.ErrUnsupported) {
		return protocol.SelfTestNotTestable, "cannot make the canary account: " + err.Error()
	}
	if err != nil {
		return protocol.SelfTestFail, "cannot make the canary account: " + err.Error()
	}
	defer done()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	left := filepath.Join(u.HomeDir, canaryName(".txt"))
	if err := os.WriteFile(left, []byte("left behind by the canary patron\n"), 0o600); err != nil {
		return protocol.SelfTestFail, "cannot leave a file in the canary home: " + err.Error()
	}
	if err := os.Lchown(left, uid, gid); err != nil {
		return protocol.SelfTestFail, "cannot give the file to the canary account: " + err.Error()
	}
	eng, err := canaryEngine(e, e.gate())
	if err != nil {
		return protocol.SelfTestFail, "wipe engine: " + err.Error()
	}
	t0 := time.Now()
	rep, err := eng.Wipe(ctx, wipe.Scope{User: CanaryAccount})
	if err != nil {
		return protocol.SelfTestFail, "the canary wipe failed: " + err.Error()
	}
	if !rep.Verified {
		first := "none listed"
		if len(rep.Leftovers) > 0 {
			first = rep.Leftovers[0].Path + ": " + rep.Leftovers[0].Reason
		}
		return protocol.SelfTestFail, fmt.Sprintf("the canary wipe was not verified clean: %d leftovers (first: %s)", len(rep.Leftovers), first)
	}
	if _, err := os.Lstat(left); err == nil {
		return protocol.SelfTestFail, "the wipe said clean but the canary file is still in the home"
	}
	took := time.Since(t0)
	if prep, err := eng.Purge(ctx, rep.ID); err != nil || !prep.Purged {
		return protocol.SelfTestFail, fmt.Sprintf("the canary home was wiped but its trash was not purged: %v", err)
	}
	return protocol.SelfTestPass, fmt.Sprintf("the canary account's home was wiped to verified clean in %s", took.Round(time.Millisecond))
}

func checkLogonGate(ctx context.Context, e *Env) (protocol.SelfTestOutcome, string) {
	if _, err := exec.LookPath("su"); err != nil {
		return protocol.SelfTestNotTestable, "su is not installed: no PAM login to try the gate with"
	}
	_, done, err := makeCanaryAccount(ctx, e)
	if errors.Is(err, errors.ErrUnsupported) {
		return protocol.SelfTestNotTestable, "cannot make the canary account: " + err.Error()
	}
	if err != nil {
		return protocol.SelfTestFail, "cannot make the canary account: " + err.Error()
	}
	defer done()
	login := func() error { return command(ctx, "su", "-s", "/bin/sh", "-c", "true", CanaryAccount) }
	if err := login(); err != nil {
		return protocol.SelfTestNotTestable, "the canary account cannot log in even when not held: " + err.Error()
	}
	g := e.gate()
	if err := g.Hold(ctx, CanaryAccount); err != nil {
		return protocol.SelfTestFail, "the gate did not hold the canary account: " + err.Error()
	}
	held := login()
	if err := g.Release(ctx, CanaryAccount); err != nil {
		return protocol.SelfTestFail, "the gate did not release the canary account: " + err.Error()
	}
	if held == nil {
		return protocol.SelfTestFail, "the canary account logged in (su, through PAM) while the gate held it"
	}
	if err := login(); err != nil {
		return protocol.SelfTestFail, "the canary account stays out after the gate released it: " + err.Error()
	}
	return protocol.SelfTestPass, "a PAM login (su) of the canary account was refused while held and allowed after release"
}

func checkServiceRestart(ctx context.Context, _ *Env) (protocol.SelfTestOutcome, string) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return protocol.SelfTestNotTestable, "systemd is not running here: no service manager to ask"
	}
	out, err := exec.CommandContext(ctx, "systemctl", "show", "carrel-agent.service", "--property=LoadState,Restart").Output()
	if err != nil {
		return protocol.SelfTestFail, "systemctl show carrel-agent: " + err.Error()
	}
	props := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			props[k] = v
		}
	}
	if props["LoadState"] != "loaded" {
		return protocol.SelfTestFail, "the carrel-agent unit is not installed (LoadState=" + props["LoadState"] + ")"
	}
	switch r := props["Restart"]; r {
	case "always", "on-failure", "on-abnormal", "on-abort":
		return protocol.SelfTestPass, "systemd restarts carrel-agent (Restart=" + r + ")"
	default:
		return protocol.SelfTestFail, "systemd does not restart carrel-agent when it dies (Restart=" + r + ")"
	}
}
