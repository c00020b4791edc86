//go:build linux

package wipe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mount(t *testing.T, args ...string) {
	t.Helper()
	mustRun(t, "mount", args...)
}

// unmountUnder detaches every mount below root (they may have moved into the
// trash with the home), deepest first, so t.TempDir's cleanup can remove it.
func unmountUnder(t *testing.T, root string) {
	t.Cleanup(func() {
		data, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Error(err)
			return
		}
		var points []string
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], root+"/") {
				points = append(points, f[4])
			}
		}
		for i := len(points) - 1; i >= 0; i-- {
			if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", points[i], err)
			}
		}
	})
}

// A bind mount (same filesystem, same st_dev) and a tmpfs inside the home are
// renamed aside with it and never crossed by the purge: their files survive and
// the purge is reported dirty, never clean.
func TestMountsInsideHomeAreNotCrossed(t *testing.T) {
	if !inMountNS(t) {
		return
	}
	s := newSandbox(t, t.TempDir())
	unmountUnder(t, s.root)
	s.build(t)
	bind := filepath.Join(s.home, "Desktop", "bind")
	mkdir(t, bind, 0o700, patronUID, patronGID)
	mount(t, "--bind", s.other, bind)
	fileBind := filepath.Join(s.home, "shadow-bind")
	writeFile(t, fileBind, "", 0o600, patronUID, patronGID)
	mount(t, "--bind", filepath.Join(s.outside, "shadow"), fileBind)
	tmpfs := filepath.Join(s.home, "ram")
	mkdir(t, tmpfs, 0o700, patronUID, patronGID)
	mount(t, "-t", "tmpfs", "-o", "size=1m", "tmpfs", tmpfs)
	writeFile(t, filepath.Join(tmpfs, "in-tmpfs"), "keep", 0o600, patronUID, patronGID)
	outside := snapshot(t, s.outside)
	staff := snapshot(t, s.other)

	rep, prep := s.wipeAndPurge(t, s.engine(t, s.config()))
	if !rep.Ready {
		t.Fatalf("swap should be ready (mounts moved aside with the home): %+v", rep)
	}
	if prep.Purged || prep.Verified {
		t.Fatalf("trash with mounts reported clean: %+v", prep)
	}
	n := 0
	for _, l := range prep.Leftovers {
		if strings.Contains(l.Reason, "mount point") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("want 3 mount-point leftovers, got %+v", prep.Leftovers)
	}
	sameSnapshot(t, "outside canary", outside, snapshot(t, s.outside))
	sameSnapshot(t, "bind-mounted staff home", staff, snapshot(t, s.other))
	moved := filepath.Join(s.homes, ".carrel-trash", rep.ID, "home", "ram", "in-tmpfs")
	if b, err := os.ReadFile(moved); err != nil || string(b) != "keep" {
		t.Fatalf("tmpfs content crossed: %q %v", b, err)
	}
}

// A home that is its own mount cannot be renamed into the trash: the wipe
// empties it in place with the same guards.
func TestInPlaceWhenHomeIsAMount(t *testing.T) {
	if !inMountNS(t) {
		return
	}
	s := newSandbox(t, t.TempDir())
	unmountUnder(t, s.root)
	s.build(t)
	if err := os.RemoveAll(s.home); err != nil {
		t.Fatal(err)
	}
	mkdir(t, s.home, 0o700, patronUID, patronGID)
	mount(t, "-t", "tmpfs", "-o", fmt.Sprintf("size=8m,uid=%d,gid=%d,mode=0700", patronUID, patronGID), "tmpfs", s.home)
	s.fillHome(t, s.home)
	if err := os.Symlink(s.outside, filepath.Join(s.home, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(s.home, ".bashrc"), filepath.Join(s.home, "Downloads", "hard")); err != nil {
		t.Fatal(err)
	}
	outside := snapshot(t, s.outside)
	rep, _ := s.wipeAndPurge(t, s.engine(t, s.config()))
	if !rep.Ready || rep.Mode != ModeInPlace {
		t.Fatalf("report = %+v", rep)
	}
	sameSnapshot(t, "outside canary", outside, snapshot(t, s.outside))
}

// In place, a bind mount inside the home stays (never crossed) and the station
// stays dirty with logons held.
func TestInPlaceWithBindMountIsDirty(t *testing.T) {
	if !inMountNS(t) {
		return
	}
	s := newSandbox(t, t.TempDir())
	unmountUnder(t, s.root)
	s.build(t)
	cfg := s.config()
	cfg.TrashDir = filepath.Join(s.root, "othertrash")
	mkdir(t, cfg.TrashDir, 0o700, 0, 0)
	mount(t, "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", cfg.TrashDir) // another filesystem: EXDEV
	bind := filepath.Join(s.home, "Documents")
	mkdir(t, bind, 0o700, patronUID, patronGID)
	mount(t, "--bind", s.outside, bind)
	outside := snapshot(t, s.outside)
	rep, _ := s.wipeAndPurge(t, s.engine(t, cfg))
	if rep.Ready || rep.Verified || rep.Mode != ModeInPlace {
		t.Fatalf("report = %+v", rep)
	}
	found := false
	for _, l := range rep.Leftovers {
		found = found || strings.Contains(l.Path, "Documents")
	}
	if !found {
		t.Fatalf("bind mount not reported: %+v", rep.Leftovers)
	}
	sameSnapshot(t, "bind-mounted canary", outside, snapshot(t, s.outside))
}

// crashSteps are the journal records a helper process may die around.
var crashSteps = []string{stepBegin, stepHeld, stepKilled, stepMoved, stepRecreated, stepTemp, stepVerified, stepReleased, stepPurged}

// TestCrashHelper is the process that TestSIGKILLAtEveryStep kills; it only runs
// when that test starts it.
func TestCrashHelper(t *testing.T) {
	spec := os.Getenv("CARREL_WIPE_CRASH")
	if spec == "" {
		t.Skip("helper process for TestSIGKILLAtEveryStep")
	}
	step, phase, _ := strings.Cut(spec, ":")
	s := newSandbox(t, os.Getenv("CARREL_WIPE_SANDBOX"))
	e := s.engine(t, s.config())
	e.hook = func(st string, recorded bool) {
		if st == step && recorded == (phase == "after") {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	rep, err := e.Wipe(context.Background(), Scope{User: patronName})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Purge(context.Background(), rep.ID); err != nil {
		t.Fatal(err)
	}
	t.Fatal("the hook never fired")
}

func TestSIGKILLAtEveryStep(t *testing.T) {
	requireRoot(t)
	for _, step := range crashSteps {
		for _, phase := range []string{"before", "after"} {
			t.Run(step+"-"+phase, func(t *testing.T) {
				s := newSandbox(t, t.TempDir())
				s.build(t)
				outside := snapshot(t, s.outside)
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
				cmd.Env = append(os.Environ(), "CARREL_WIPE_CRASH="+step+":"+phase, "CARREL_WIPE_SANDBOX="+s.root)
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("helper was not killed by SIGKILL: %v\n%s", err, out)
				}
				if o := stepOrder[step]; o >= stepOrder[stepHeld] && o <= stepOrder[stepVerified] {
					if !s.gate.held(patronName) {
						t.Fatal("agent died mid-wipe with logons released")
					}
				}
				e := s.engine(t, s.config())
				if phase == "after" && stepOrder[step] < stepOrder[stepReleased] {
					// staff's wipe-now of the same account finishes the journaled wipe
					rep, err := e.Wipe(context.Background(), Scope{User: patronName})
					if err != nil || !rep.Ready {
						t.Fatalf("Wipe after crash: %+v %v", rep, err)
					}
				} else if err := e.Resume(context.Background()); err != nil {
					t.Fatalf("Resume: %v", err)
				}
				if s.gate.held(patronName) {
					t.Fatal("logons still held after Resume")
				}
				for _, j := range s.journals(t) {
					id := strings.TrimSuffix(filepath.Base(j), journalExt)
					if rep, err := e.Purge(context.Background(), id); err != nil || !rep.Purged {
						t.Fatalf("Purge after Resume: %+v %v", rep, err)
					}
				}
				if step == stepBegin && phase == "before" {
					// the journal never held a record: Resume dropped it and the
					// home was never touched; a fresh wipe does the work
					if _, err := e.Wipe(context.Background(), Scope{User: patronName}); err != nil {
						t.Fatal(err)
					}
					e.Purge(context.Background(), s.onlyJournalID(t))
				}
				s.assertHomeIsTemplate(t)
				if left := s.trashEntries(t); len(left) != 0 {
					t.Fatalf("trash left: %v", left)
				}
				if j := s.journals(t); len(j) != 0 {
					t.Fatalf("journals left: %v", j)
				}
				if _, err := os.Lstat(filepath.Join(s.tmp, "patron-tmp")); !errors.Is(err, os.ErrNotExist) {
					t.Fatal("patron temp file survived")
				}
				sameSnapshot(t, "outside canary", outside, snapshot(t, s.outside))
			})
		}
	}
}

func (s *sandbox) onlyJournalID(t *testing.T) string {
	j := s.journals(t)
	if len(j) != 1 {
		return "none"
	}
	return strings.TrimSuffix(filepath.Base(j[0]), journalExt)
}

// A process of the patron that keeps writing into the home is ended before the
// swap; the result is clean and true.
func TestPatronProcessWritingIsEnded(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed")
	}
	s := newSandbox(t, t.TempDir())
	s.build(t)
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(patronUID), "--regid="+strconv.Itoa(patronGID), "--clear-groups",
		"sh", "-c", `cd "$1" && i=0 && while :; do i=$((i+1)); echo "$i" > "w$i"; echo "$i" > "$2/shared$i"; done`, "sh",
		filepath.Join(s.home, "Downloads"), s.tmp)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { // never leave the test's processes behind, even on failure
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		procKiller{proc: "/proc"}.KillAll(ctx, patronUID)
	})
	// wait (with a deadline) until it has written something
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(s.home, "Downloads", "w3")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writer never wrote: %s", stderr.String())
		}
		runtimeGosched()
	}
	rep, prep := s.wipeAndPurge(t, s.engine(t, s.config()))
	if !rep.Ready || !prep.Purged {
		t.Fatalf("reports: %+v %+v", rep, prep)
	}
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("writer ended with %v, want SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer still running after the wipe")
	}
	if ents, _ := filepath.Glob(filepath.Join(s.tmp, "shared*")); len(ents) != 0 {
		t.Fatalf("patron files left in temp: %d", len(ents))
	}
}

// A writer the wipe cannot end (root, holding a descriptor of a directory
// inside the home) keeps creating files while the trash is purged: the purge is
// dirty, or clean and really gone; never a false clean.
func TestWriterTheWipeCannotEnd(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	fd, err := unix.Open(filepath.Join(s.home, "Downloads"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var stop atomic.Bool
	var wrote atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			f, err := unix.Openat(fd, "r"+strconv.Itoa(i), unix.O_CREAT|unix.O_WRONLY, 0o600)
			if err == nil {
				unix.Close(f)
				wrote.Add(1)
			}
		}
	}()
	for wrote.Load() < 10 {
		runtimeGosched()
	}
	rep, prep := s.wipeAndPurge(t, s.engine(t, s.config()))
	stop.Store(true)
	wg.Wait()
	if !rep.Ready {
		t.Fatalf("home swap should be ready: %+v", rep)
	}
	t.Logf("writer created %d files; purge clean=%v leftovers=%d", wrote.Load(), prep.Purged, len(prep.Leftovers))
	// the check that matters (clean means really gone) is in wipeAndPurge; check it
	// again now that the writer has stopped
	if prep.Purged {
		if left := s.trashEntries(t); len(left) != 0 {
			t.Fatalf("false clean: trash holds %v", left)
		}
	}
}
