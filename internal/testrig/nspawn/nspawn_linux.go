//go:build linux

package nspawn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrUnavailable is returned by Available and Start when this machine cannot boot
// a container (a tool is missing or the caller is not root).
var ErrUnavailable = errors.New("nspawn: cannot boot containers here")

// BootTimeout bounds Start: from launching systemd-nspawn to the container's
// systemd reporting that boot finished. A boot takes about 3 s on an idle
// 2-core machine; the margin is for machines shared with other heavy work.
const BootTimeout = 90 * time.Second

// Container is one booted container. Its methods are safe for concurrent use.
type Container struct {
	// Name is the machine name, unique per container.
	Name string

	dir     string   // host directory the private tmpfs is mounted on
	cgroups []string // the container's own cgroup directories, removed at Close
	cmd     *exec.Cmd
	pid     int // the container's systemd, as seen from the host
	done    chan struct{}
	log     *syncBuffer

	closeOnce sync.Once
	closeErr  error
}

// Available reports whether containers can be booted here, with an error wrapping
// ErrUnavailable that says what is missing.
func Available() error {
	for _, tool := range []string{"systemd-nspawn", "nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install systemd-container util-linux)", ErrUnavailable, tool)
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: must run as root", ErrUnavailable)
	}
	return nil
}

// Options change how a container is booted. The zero value is Boot's.
type Options struct {
	// PrivateNetwork gives the container its own network namespace with only a
	// loopback interface. Without it the container shares the host's network, so
	// a service it starts (a database the host has installed, say) competes for
	// the host's ports with the services of other containers booted at the
	// same time.
	PrivateNetwork bool
	// Fanotify lets the container's services use fanotify (the exec guard's
	// before-exec enforcement): systemd-nspawn's system-call filter refuses
	// fanotify_init and fanotify_mark otherwise (EPERM). The marks then
	// cover the container's own mounts (its /tmp and the overlay root, which
	// is the host's / seen through an overlay: a host exec is not on it).
	Fanotify bool
}

// Boot starts a container for t and closes it when t ends. It skips t when
// systemd-nspawn (or nsenter/unshare) is not installed, and fails t on any other
// problem, such as not being root.
func Boot(t testing.TB) *Container {
	t.Helper()
	return BootWith(t, Options{})
}

// BootWith is Boot with options.
func BootWith(t testing.TB, opts Options) *Container {
	t.Helper()
	for _, tool := range []string{"systemd-nspawn", "nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s not installed (apt-get install systemd-container util-linux)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), BootTimeout)
	defer cancel()
	c, err := StartWith(ctx, opts)
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

// bootScript runs inside the private mount namespace made by unshare. It first
// moves itself into the container's own cgroups (the remaining arguments):
// with --keep-unit and no systemd on the host, the container's systemd uses the
// cgroup it starts in, and two containers started from one test process would
// otherwise create their units' cgroups in the same place (status=219/CGROUP).
const bootScript = `set -e
dir=$1 name=$2 net=$3
shift 3
for cg in "$@"; do echo $$ > "$cg/cgroup.procs"; done
mount -t tmpfs -o mode=0700 carrel-nspawn "$dir"
mkdir "$dir/upper" "$dir/work" "$dir/$name"
mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$dir/$name"
exec systemd-nspawn -q --register=no --keep-unit --console=passive $net --machine="$name" --boot -D "$dir/$name"
`

// Start boots a container and waits until its systemd has finished booting (state
// running or degraded) or ctx ends. Close it when done.
func Start(ctx context.Context) (*Container, error) { return StartWith(ctx, Options{}) }

// StartWith is Start with options.
func StartWith(ctx context.Context, opts Options) (*Container, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("nspawn: name: %w", err)
	}
	name := "carrel-" + hex.EncodeToString(rnd[:])
	dir, err := os.MkdirTemp("", name+".")
	if err != nil {
		return nil, fmt.Errorf("nspawn: %w", err)
	}
	c := &Container{Name: name, dir: dir, done: make(chan struct{}), log: new(syncBuffer)}
	c.cgroups = makeCgroups(name)
	net := "" // unquoted in the script: an empty value adds no argument
	if opts.Fanotify {
		net = "--system-call-filter=fanotify_init --system-call-filter=fanotify_mark"
	}
	if opts.PrivateNetwork {
		net += " --private-network"
	}
	args := append([]string{"--mount", "--propagation", "private", "sh", "-c", bootScript, "sh", dir, name, net}, c.cgroups...)
	c.cmd = exec.Command("unshare", args...)
	c.cmd.Stdout = c.log
	c.cmd.Stderr = c.log
	// If the test binary dies (a timeout panic skips Cleanup), systemd-nspawn
	// gets SIGTERM and halts the container instead of outliving it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		os.Remove(dir)
		removeCgroups(c.cgroups)
		return nil, fmt.Errorf("nspawn: start: %w", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	if err := c.waitBooted(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("nspawn: boot %s: %w\n%s", name, err, c.log.String())
	}
	return c, nil
}

func (c *Container) waitBooted(ctx context.Context) error {
	// unshare and sh exec in place, so the command's PID is systemd-nspawn's; its
	// child named systemd is the container's init.
	nspawnPID := c.cmd.Process.Pid
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.pid == 0 {
		if pid := childNamed(nspawnPID, "systemd"); pid > 0 {
			c.pid = pid
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no systemd inside the container: %w", ctx.Err())
		case <-c.done:
			return errors.New("systemd-nspawn exited during boot")
		case <-tick.C:
		}
	}
	// is-system-running --wait blocks until boot has finished; it needs the bus,
	// which may not be up in the first milliseconds, so retry until the deadline.
	for {
		out, _ := c.Exec(ctx, "systemctl", "is-system-running", "--wait")
		switch strings.TrimSpace(string(out)) {
		case "running", "degraded":
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("systemd did not finish booting (last state %q): %w", strings.TrimSpace(string(out)), ctx.Err())
		case <-c.done:
			return errors.New("systemd-nspawn exited during boot")
		case <-tick.C:
		}
	}
}

// childNamed returns the PID of a child of parent whose comm is name, or 0.
func childNamed(parent int, name string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		lp, rp := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if lp < 0 || rp < lp {
			continue
		}
		fields := strings.Fields(string(stat[rp+1:]))
		if len(fields) < 2 || string(stat[lp+1:rp]) != name {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == parent {
			return pid
		}
	}
	return 0
}

// PID is the container's init (systemd) as seen from the host.
func (c *Container) PID() int { return c.pid }

// Root is a host path to the container's root directory (/proc/PID/root). Do not
// follow absolute symlinks through it: they resolve on the host.
func (c *Container) Root() string { return fmt.Sprintf("/proc/%d/root", c.pid) }

// Exec runs a command in all of the container's namespaces and returns its
// combined output. A non-zero exit is an error that includes the output.
func (c *Container) Exec(ctx context.Context, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, errors.New("nspawn: exec: no command")
	}
	out, err := c.Command(ctx, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("nspawn: %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Command returns an unstarted command that will run in the container, for
// callers that need its pipes or want to run it in the background. When ctx
// ends, the whole process group is killed: nsenter forks to enter the
// container's pid namespace, and killing nsenter alone would leave the command
// running and holding the pipes. Wait returns at most 5 s after that.
func (c *Container) Command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"-t", strconv.Itoa(c.pid), "-a", "--"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// CopyIn copies the host file src to dst (an absolute path inside the container),
// with mode perm. dst's directory must exist in the container.
func (c *Container) CopyIn(src, dst string, perm os.FileMode) error {
	if !filepath.IsAbs(dst) {
		return fmt.Errorf("nspawn: copy in: %q is not absolute", dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("nspawn: copy in: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(filepath.Join(c.Root(), dst), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("nspawn: copy in: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("nspawn: copy in: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("nspawn: copy in: %w", err)
	}
	return nil
}

// Log returns what systemd-nspawn printed so far (its console output).
func (c *Container) Log() string { return c.log.String() }

// Close powers the container off (SIGTERM to systemd-nspawn, which asks the
// container's systemd to halt) and removes what it left on the host; the private
// tmpfs goes with the mount namespace. A container that has not halted after
// 30 s (services the host has enabled, such as a database, boot and stop in it
// too) is killed; that is not an error, since nothing in it is kept.
func (c *Container) Close() error {
	c.closeOnce.Do(func() {
		if c.cmd.Process != nil {
			c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(30 * time.Second):
				syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
				<-c.done
			}
		}
		removeCgroups(c.cgroups)
		// systemd-nspawn leaves a per-machine propagation directory behind.
		os.RemoveAll(filepath.Join("/run/systemd/nspawn/propagate", c.Name))
		for _, d := range []string{"/run/systemd/nspawn/propagate", "/run/systemd/nspawn/locks", "/run/systemd/nspawn"} {
			os.Remove(d) // only if empty: another container may be running
		}
		if err := os.Remove(c.dir); err != nil && c.closeErr == nil {
			c.closeErr = fmt.Errorf("remove %s: %w", c.dir, err)
		}
	})
	return c.closeErr
}

type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // enough to diagnose; drop the rest
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// makeCgroups creates a cgroup named name under this process's cgroup in the
// hierarchies systemd uses (the named systemd one of cgroup v1, and cgroup v2),
// and returns their directories. A hierarchy it cannot use is skipped: the
// container then shares that cgroup, as before.
func makeCgroups(name string) []string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var mounts []string
		switch f[1] {
		case "name=systemd":
			mounts = []string{"/sys/fs/cgroup/systemd"}
		case "":
			mounts = []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}
		default:
			continue
		}
		for _, m := range mounts {
			parent := filepath.Join(m, f[2])
			if _, err := os.Stat(filepath.Join(parent, "cgroup.procs")); err != nil {
				continue
			}
			dir := filepath.Join(parent, name)
			if err := os.Mkdir(dir, 0o755); err == nil {
				dirs = append(dirs, dir)
			}
			break
		}
	}
	return dirs
}

// removeCgroups removes the container's cgroups and what its systemd left in
// them, deepest first (a cgroup can only be removed once it is empty).
func removeCgroups(dirs []string) {
	for _, d := range dirs {
		var all []string
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			os.Remove(all[i])
		}
	}
}
