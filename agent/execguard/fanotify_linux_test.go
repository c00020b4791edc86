//go:build linux

package execguard

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"golang.org/x/sys/unix"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// privateTmpfs mounts a tmpfs for the test, so the fanotify mount mark covers
// only the test's files and not every exec on the machine's root filesystem.
func privateTmpfs(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("fanotify permission events and mount need root")
	}
	dir := t.TempDir()
	if err := unix.Mount("carrel-test", dir, "tmpfs", 0, "size=64m,mode=0755"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func startEnforcer(t testing.TB, sink EventSink, roots ...string) Enforcer {
	t.Helper()
	enf, err := NewEnforcer(sink, discardLog())
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
		t.Skipf("fanotify not available: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := enf.Apply(roots); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- enf.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancel")
		}
	})
	return enf
}

func TestFanotifyDeniesExecUnderRoot(t *testing.T) {
	checkGoroutines(t)
	mnt := privateTmpfs(t)
	patron := filepath.Join(mnt, "patron")
	staff := filepath.Join(mnt, "staff")
	os.Mkdir(patron, 0o777)
	os.Mkdir(staff, 0o755)
	copyExecutable(t, "/bin/true", filepath.Join(patron, "true"))
	copyExecutable(t, "/bin/true", filepath.Join(staff, "true"))

	sink := &eventrec.Recorder{}
	enf := startEnforcer(t, sink, patron)

	err := exec.Command(filepath.Join(patron, "true")).Run()
	if !errors.Is(err, syscall.EPERM) {
		t.Fatalf("exec of a program under a patron root: %v, want EPERM", err)
	}
	// Same mount, outside the roots: allowed. And the system's own binary.
	if err := exec.Command(filepath.Join(staff, "true")).Run(); err != nil {
		t.Fatalf("exec outside the roots on the marked mount: %v", err)
	}
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatalf("exec of /bin/true: %v", err)
	}
	testbin.WaitFor(t, 5*time.Second, "exec.blocked event", func() bool { return len(sink.OfKind(protocol.EventExecBlocked)) == 1 })
	ev := sink.OfKind(protocol.EventExecBlocked)[0]
	if ev.Sev != protocol.SeverityAlert || ev.Data["path"] != filepath.Join(patron, "true") || ev.Data["name"] != "true" || ev.Data["pid"] == "" {
		t.Errorf("event %+v", ev)
	}

	// A copy under a new subdirectory, and one that was deleted while running
	// would be: still denied by path.
	sub := filepath.Join(patron, "a", "b")
	os.MkdirAll(sub, 0o777)
	copyExecutable(t, "/bin/true", filepath.Join(sub, "tool"))
	if err := exec.Command(filepath.Join(sub, "tool")).Run(); !errors.Is(err, syscall.EPERM) {
		t.Errorf("exec in a new subdirectory: %v, want EPERM", err)
	}

	// New roots take effect at once.
	if err := enf.Apply([]string{patron, staff}); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(filepath.Join(staff, "true")).Run(); !errors.Is(err, syscall.EPERM) {
		t.Errorf("exec after the root was added: %v, want EPERM", err)
	}
	if err := enf.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(filepath.Join(patron, "true")).Run(); err != nil {
		t.Errorf("exec after the roots were dropped: %v", err)
	}
}

func TestFanotifyFailsOpenWhenGuardStops(t *testing.T) {
	mnt := privateTmpfs(t)
	copyExecutable(t, "/bin/true", filepath.Join(mnt, "true"))
	enf, err := NewEnforcer(&eventrec.Recorder{}, discardLog())
	if err != nil {
		t.Skipf("fanotify not available: %v", err)
	}
	if err := enf.Apply([]string{mnt}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- enf.Run(ctx) }()
	if err := exec.Command(filepath.Join(mnt, "true")).Run(); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("exec while guarded: %v, want EPERM", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The group is closed: the kernel no longer asks anyone.
	if err := exec.Command(filepath.Join(mnt, "true")).Run(); err != nil {
		t.Fatalf("exec after the guard stopped: %v", err)
	}
}

// BenchmarkExecDecision is the work done per exec on a marked mount, from the
// event's fd to the verdict: readlink of /proc/self/fd/N and the prefix match.
func BenchmarkExecDecision(b *testing.B) {
	f, err := os.Open("/bin/true")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	set := newRootSet([]string{"/home/a", "/home/b", "/tmp", "/var/tmp", "/dev/shm", "/media/x"})
	link := make([]byte, unix.PathMax)
	p := []byte("/proc/self/fd/" + itoa(int(f.Fd())))
	b.ReportAllocs()
	for b.Loop() {
		n, err := readlinkBytes(p, link)
		if err != nil {
			b.Fatal(err)
		}
		if set.containsBytes(link[:n]) {
			b.Fatal("/bin/true judged inside the roots")
		}
	}
}

// BenchmarkExecOnMarkedMount times fork+exec of a program outside the roots on
// a mount the guard watches, against the same exec with no guard.
func BenchmarkExecOnMarkedMount(b *testing.B) {
	mnt := privateTmpfs(b)
	staff := filepath.Join(mnt, "staff")
	os.Mkdir(staff, 0o755)
	os.Mkdir(filepath.Join(mnt, "patron"), 0o777)
	prog := filepath.Join(staff, "true")
	copyExecutable(b, "/bin/true", prog)
	run := func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command(prog).Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("unguarded", run)
	startEnforcer(b, &eventrec.Recorder{}, filepath.Join(mnt, "patron"))
	b.Run("guarded", run)
}

// The helper is a process of its own: if it dies the kernel lets execs through
// (fail open) until the enforcer has restarted it, which it reports.
func TestFanotifyHelperRestarted(t *testing.T) {
	checkGoroutines(t)
	mnt := privateTmpfs(t)
	prog := filepath.Join(mnt, "true")
	copyExecutable(t, "/bin/true", prog)
	sink := &eventrec.Recorder{}
	enf := startEnforcer(t, sink, mnt).(*helperEnforcer)
	if err := exec.Command(prog).Run(); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("exec while guarded: %v, want EPERM", err)
	}
	enf.mu.Lock()
	first := enf.cmd.Process.Pid
	enf.cmd.Process.Kill()
	enf.mu.Unlock()
	testbin.WaitFor(t, 10*time.Second, "helper restarted with the roots", func() bool {
		enf.mu.Lock()
		pid := enf.cmd.Process.Pid
		enf.mu.Unlock()
		return pid != first && errors.Is(exec.Command(prog).Run(), syscall.EPERM)
	})
	if len(sink.OfKind(protocol.EventExecGuardError)) == 0 {
		t.Error("helper loss not reported")
	}
}
