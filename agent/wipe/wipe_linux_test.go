//go:build linux

package wipe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"golang.org/x/sys/unix"
)

// wipeAndPurge runs one wipe and its purge, and checks the invariants every test
// shares: a report that says clean is true (home equals the template, trash gone,
// journal gone, logons released), and a dirty one keeps its journal.
func (s *sandbox) wipeAndPurge(t *testing.T, e *Engine) (Report, Report) {
	t.Helper()
	ctx := context.Background()
	rep, err := e.Wipe(ctx, Scope{User: patronName})
	if err != nil {
		t.Fatalf("Wipe: %v", err)
	}
	if !rep.Ready {
		if rep.Verified {
			t.Fatal("report verified but not ready")
		}
		if !s.gate.held(patronName) {
			t.Fatal("dirty wipe released logons")
		}
		if !s.sink.Has(protocol.EventWipeDirty) {
			t.Fatal("dirty wipe emitted no wipe.dirty")
		}
		return rep, Report{}
	}
	if s.gate.held(patronName) {
		t.Fatal("ready wipe left logons held")
	}
	s.assertHomeIsTemplate(t)
	prep, err := e.Purge(ctx, rep.ID)
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if prep.Purged {
		if left := s.trashEntries(t); len(left) != 0 {
			t.Fatalf("purge reported clean but the trash holds %v", left)
		}
		if j := s.journals(t); len(j) != 0 {
			t.Fatalf("purge reported clean but journals remain: %v", j)
		}
		if !prep.Verified || !s.sink.Has(protocol.EventWipeDone) {
			t.Fatal("clean purge not verified or no wipe.done")
		}
	} else {
		if prep.Verified || len(prep.Leftovers) == 0 || !s.sink.Has(protocol.EventWipeDirty) {
			t.Fatalf("unpurged trash reported as %+v", prep)
		}
		if len(s.journals(t)) == 0 {
			t.Fatal("dirty purge dropped its journal")
		}
	}
	return rep, prep
}

func TestWipeSwapsAndPurges(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	outside := snapshot(t, s.outside)
	staff := snapshot(t, s.other)
	e := s.engine(t, s.config())
	rep, prep := s.wipeAndPurge(t, e)
	if !rep.Ready || !rep.Verified || rep.Mode != ModeSwap {
		t.Fatalf("report = %+v", rep)
	}
	if !prep.Purged || prep.FilesRemoved != 4 || prep.BytesRemoved < 3000 {
		t.Fatalf("purge report = %+v", prep)
	}
	for _, n := range []string{"patron-tmp", "patron-dir", "link-to-etc"} {
		if _, err := os.Lstat(filepath.Join(s.tmp, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("patron's %s still in the temp dir: %v", n, err)
		}
	}
	for _, n := range []string{"staff-tmp", "root-tmp"} {
		if _, err := os.Lstat(filepath.Join(s.tmp, n)); err != nil {
			t.Errorf("other user's %s removed from the temp dir: %v", n, err)
		}
	}
	sameSnapshot(t, "outside canary", outside, snapshot(t, s.outside))
	sameSnapshot(t, "staff home", staff, snapshot(t, s.other))
	// trash root is root-only
	info, err := os.Lstat(filepath.Join(s.homes, ".carrel-trash"))
	if err != nil || info.Mode().Perm() != 0o700 || info.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("trash root: %v %v", info, err)
	}
}

func TestHostileLinks(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	// links out of the home: to a stand-in for /etc, into it, to a file in it,
	// to another user's home, and a hard link to a root-owned file
	links := map[string]string{
		"etc":          s.outside,
		"Desktop/etc2": s.outside + "/sub",
		"shadow":       s.outside + "/shadow",
		"staff":        s.other,
		"rel":          "../../etc",
		"loop":         "loop",
	}
	for name, target := range links {
		p := filepath.Join(s.home, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, patronUID, patronGID); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(s.outside, "passwd"), filepath.Join(s.home, "Downloads", "hard")); err != nil {
		t.Fatal(err)
	}
	outside := snapshot(t, s.outside)
	staff := snapshot(t, s.other)
	_, prep := s.wipeAndPurge(t, s.engine(t, s.config()))
	if !prep.Purged {
		t.Fatalf("purge not clean: %+v", prep.Leftovers)
	}
	sameSnapshot(t, "outside canary", outside, snapshot(t, s.outside))
	sameSnapshot(t, "staff home", staff, snapshot(t, s.other))
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(s.outside, "passwd"), &st); err != nil || st.Nlink != 1 {
		t.Fatalf("hard-linked file: nlink=%d err=%v (its link in the home was not unlinked?)", st.Nlink, err)
	}
}

func TestRefusesUnsafeScopes(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	// a home reached through a symlinked parent, a home owned by someone else, a
	// home under a directory the patron owns, the agent's own dirs
	linkParent := filepath.Join(s.root, "homes-link")
	if err := os.Symlink(s.homes, linkParent); err != nil {
		t.Fatal(err)
	}
	patronParent := filepath.Join(s.root, "patronowned")
	mkdir(t, patronParent, 0o755, patronUID, patronGID)
	mkdir(t, filepath.Join(patronParent, "h"), 0o700, patronUID, patronGID)
	homeLink := filepath.Join(s.homes, "homelink")
	if err := os.Symlink(s.home, homeLink); err != nil {
		t.Fatal(err)
	}
	os.Lchown(homeLink, patronUID, patronGID)
	cases := []struct {
		name  string
		scope Scope
		want  string
	}{
		{"root", Scope{User: patronName, Home: "/"}, "root"},
		{"etc", Scope{User: patronName, Home: "/etc"}, "top-level"},
		{"inside usr", Scope{User: patronName, Home: "/usr/lib"}, "system directory"},
		{"root home", Scope{User: patronName, Home: "/root"}, "top-level"},
		{"relative", Scope{User: patronName, Home: "home/patron"}, "clean absolute"},
		{"dotdot", Scope{User: patronName, Home: s.home + "/../staff"}, "clean absolute"},
		{"other user's home", Scope{User: patronName, Home: s.other}, "owned by uid"},
		{"symlinked parent", Scope{User: patronName, Home: filepath.Join(linkParent, patronName)}, "symlink"},
		{"home is a symlink", Scope{User: patronName, Home: homeLink}, "symlink"},
		{"patron-owned parent", Scope{User: patronName, Home: filepath.Join(patronParent, "h")}, "not root"},
		{"agent state", Scope{User: patronName, Home: s.journal}, "agent"},
		{"above agent state", Scope{User: patronName, Home: filepath.Join(s.root, "state")}, "agent"},
		{"not a patron", Scope{User: "staff"}, "not a patron"},
		{"system account", Scope{User: "daemon"}, "min_uid"},
		{"unknown user", Scope{User: "nobody-here"}, "look up"},
		{"nothing", Scope{}, "no user"},
	}
	before := snapshot(t, s.root)
	e := s.engine(t, s.config())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := e.Wipe(context.Background(), c.scope)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Wipe(%+v) = %v, want a refusal", c.scope, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("refusal %q does not mention %q", err, c.want)
			}
			if rep.Ready || rep.Verified || len(rep.Refusals) != 1 {
				t.Errorf("refused report = %+v", rep)
			}
		})
	}
	if s.gate.held(patronName) {
		t.Fatal("a refused wipe held logons")
	}
	sameSnapshot(t, "sandbox after refusals", before, snapshot(t, s.root))
	if !s.sink.Has(protocol.EventWipeRefused) {
		t.Fatal("no wipe.refused event")
	}
}

func TestHostileNamesAndDeepTree(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	names := []string{
		"invoice\u202egnp.exe",         // RTLO
		"\u2066isolate\u2069",          // bidi isolates
		"bad\xff\xfeutf8",              // invalid UTF-8
		"new\nline",                    // control character
		strings.Repeat("x", 255),       // longest component
		strings.Repeat("\u00e9", 127),  // 254 bytes of 2-byte runes
		"-rf",                          // option-looking
		" leading and trailing space ", //
		strings.Repeat("\u202e", 85),   // 255 bytes of RTLO
	}
	for _, n := range names {
		writeFile(t, filepath.Join(s.home, "Downloads", n), "x", 0o600, patronUID, patronGID)
		mkdir(t, filepath.Join(s.home, n+"d"[:min(1, 255-len(n))]), 0o700, patronUID, patronGID)
	}
	// 10,000 nested directories, built handle-relative (the path is far past PATH_MAX)
	const depth = 10000
	fd, err := unix.Open(s.home, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, "d", 0o700); err != nil {
			t.Fatal(err)
		}
		nfd, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Fchownat(fd, "d", patronUID, patronGID, 0)
		unix.Close(fd)
		fd = nfd
	}
	if err := unix.Mknodat(fd, "bottom", unix.S_IFREG|0o600, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	outside := snapshot(t, s.outside)
	_, prep := s.wipeAndPurge(t, s.engine(t, s.config()))
	if !prep.Purged {
		t.Fatalf("purge not clean: %+v", prep.Leftovers[:min(3, len(prep.Leftovers))])
	}
	if prep.FilesRemoved < int64(len(names))+1 {
		t.Fatalf("files removed = %d", prep.FilesRemoved)
	}
	sameSnapshot(t, "outside canary", outside, snapshot(t, s.outside))
}

func TestReadOnlyDirectories(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	ro := filepath.Join(s.home, "ro")
	mkdir(t, filepath.Join(ro, "inner"), 0o700, patronUID, patronGID)
	writeFile(t, filepath.Join(ro, "inner", "f"), "x", 0o400, patronUID, patronGID)
	writeFile(t, filepath.Join(ro, "f"), "x", 0o000, patronUID, patronGID)
	if err := os.Link(filepath.Join(s.outside, "shadow"), filepath.Join(ro, "hard-ro")); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(ro, "inner"), 0o000)
	os.Chmod(ro, 0o555)
	outside := snapshot(t, s.outside)
	_, prep := s.wipeAndPurge(t, s.engine(t, s.config()))
	if !prep.Purged {
		t.Fatalf("read-only dirs not purged: %+v", prep.Leftovers)
	}
	sameSnapshot(t, "outside canary (mode of the hard-linked file)", outside, snapshot(t, s.outside))
}

func chattr(t *testing.T, flag, p string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil {
		t.Skipf("chattr %s not supported here: %v %s", flag, err, out)
	}
}

func TestUnremovableFileIsDirtyNeverClean(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	stuck := filepath.Join(s.home, "Downloads", "stuck\u202e\xffexe.txt")
	writeFile(t, stuck, "x", 0o600, patronUID, patronGID)
	chattr(t, "+i", stuck)
	moved := ""
	t.Cleanup(func() {
		if moved != "" {
			exec.Command("chattr", "-i", moved).Run()
		}
	})
	e := s.engine(t, s.config())
	rep, prep := s.wipeAndPurge(t, e)
	if !rep.Ready {
		t.Fatalf("home swap should make the station ready: %+v", rep)
	}
	if prep.Purged || prep.Verified {
		t.Fatalf("immutable file in the trash reported clean: %+v", prep)
	}
	moved = filepath.Join(s.homes, ".carrel-trash", rep.ID, "home", "Downloads", "stuck\u202e\xffexe.txt")
	l := prep.Leftovers[0]
	if !utf8.ValidString(l.Path) || strings.ContainsRune(l.Path, '\u202e') || !strings.Contains(l.Path, `\u202e\xff`) {
		t.Fatalf("leftover path not escaped: %q", l.Path)
	}
	// once it can go, the next purge (as PurgeLoop does at start) finishes cleanly
	exec.Command("chattr", "-i", moved).Run()
	prep, err := e.Purge(context.Background(), rep.ID)
	if err != nil || !prep.Purged {
		t.Fatalf("second purge: %+v %v", prep, err)
	}
	if len(s.trashEntries(t)) != 0 || len(s.journals(t)) != 0 {
		t.Fatal("trash or journal left after a clean purge")
	}
}

func TestPatronFileStuckInTempKeepsStationDirty(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	stuck := filepath.Join(s.tmp, "stuck")
	writeFile(t, stuck, "x", 0o600, patronUID, patronGID)
	chattr(t, "+i", stuck)
	t.Cleanup(func() { exec.Command("chattr", "-i", stuck).Run() })
	e := s.engine(t, s.config())
	rep, _ := s.wipeAndPurge(t, e)
	if rep.Ready || rep.Verified || len(rep.Leftovers) == 0 {
		t.Fatalf("patron file left in temp reported ready: %+v", rep)
	}
	if err := e.Resume(context.Background()); !errors.Is(err, ErrDirty) {
		t.Fatalf("Resume of a still-dirty wipe = %v, want ErrDirty", err)
	}
	if !s.gate.held(patronName) {
		t.Fatal("logons released while dirty")
	}
	// staff fix it; the retry (a new Wipe) finishes the same journal and is clean
	exec.Command("chattr", "-i", stuck).Run()
	rep2, err := e.Wipe(context.Background(), Scope{User: patronName})
	if err != nil || !rep2.Ready || rep2.ID != rep.ID {
		t.Fatalf("retry: %+v %v", rep2, err)
	}
	s.assertHomeIsTemplate(t)
	if _, err := e.Purge(context.Background(), rep.ID); err != nil {
		t.Fatal(err)
	}
	if len(s.trashEntries(t)) != 0 || len(s.journals(t)) != 0 {
		t.Fatal("trash or journal left")
	}
}

// Only the patron's entries leave the shared temp dir; a patron directory that
// holds someone else's file stays (with that file) and the station stays dirty.
func TestTempDirOnlyPatronEntries(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	mixed := filepath.Join(s.tmp, "patron-share")
	mkdir(t, mixed, 0o777, patronUID, patronGID)
	writeFile(t, filepath.Join(mixed, "patron-file"), "p", 0o600, patronUID, patronGID)
	writeFile(t, filepath.Join(mixed, "staff-file"), "s", 0o600, otherUID, otherUID)
	staffDir := filepath.Join(s.tmp, "staff-dir")
	mkdir(t, staffDir, 0o777, otherUID, otherUID)
	writeFile(t, filepath.Join(staffDir, "patron-in-staff-dir"), "p", 0o600, patronUID, patronGID)
	writeFile(t, filepath.Join(staffDir, "staff-own"), "s", 0o600, otherUID, otherUID)
	if err := unix.Mkfifo(filepath.Join(staffDir, "patron-fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(staffDir, "patron-fifo"), patronUID, patronGID)
	if err := os.Link(filepath.Join(s.outside, "passwd"), filepath.Join(staffDir, "root-hardlink")); err != nil {
		t.Fatal(err)
	}
	outside := snapshot(t, s.outside)
	e := s.engine(t, s.config())
	rep, _ := s.wipeAndPurge(t, e)
	if rep.Ready || rep.Verified {
		t.Fatalf("patron directory left in temp reported ready: %+v", rep)
	}
	for p, want := range map[string]bool{
		filepath.Join(mixed, "patron-file"):            false,
		filepath.Join(mixed, "staff-file"):             true,
		filepath.Join(staffDir, "patron-in-staff-dir"): false,
		filepath.Join(staffDir, "patron-fifo"):         false,
		filepath.Join(staffDir, "staff-own"):           true,
		filepath.Join(staffDir, "root-hardlink"):       true,
		filepath.Join(s.tmp, "staff-tmp"):              true,
	} {
		_, err := os.Lstat(p)
		if got := err == nil; got != want {
			t.Errorf("%s exists=%v, want %v", p, got, want)
		}
	}
	found := false
	for _, l := range rep.Leftovers {
		found = found || strings.Contains(l.Path, "patron-share")
	}
	if !found {
		t.Fatalf("patron directory not reported: %+v", rep.Leftovers)
	}
	sameSnapshot(t, "outside canary", outside, snapshot(t, s.outside))
}

// noKill reports success without ending anything, and lists like the real one.
type noKill struct{ procKiller }

func (noKill) KillAll(context.Context, int) (int, error) { return 0, nil }

// A killer that says it ended everything is not believed: a process of the
// patron still running at verify keeps the station dirty.
func TestProcessLeftKeepsStationDirty(t *testing.T) {
	requireRoot(t)
	s := newSandbox(t, t.TempDir())
	s.build(t)
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: patronUID, Gid: patronGID}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	e, err := New(s.config(), nil, s.sink, WithGate(s.gate), WithUsers(s.users), WithPrintQueue(nil),
		WithKiller(noKill{procKiller{proc: "/proc"}}))
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := s.wipeAndPurge(t, e)
	want := "process " + strconv.Itoa(cmd.Process.Pid)
	found := false
	for _, l := range rep.Leftovers {
		found = found || l.Path == want
	}
	if rep.Ready || rep.Verified || !found {
		t.Fatalf("a running patron process (%s) did not keep the station dirty: %+v", want, rep)
	}
}
