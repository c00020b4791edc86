//go:build linux

package wipe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/wipe/template"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
)

const (
	patronName = "patron"
	patronUID  = 64123
	patronGID  = 64124
	otherUID   = 64200
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mount namespaces, chattr)")
	}
}

// fakeUsers knows one patron account and one staff account.
type fakeUsers struct{ accts []Account }

func (u fakeUsers) Lookup(name string) (Account, error) {
	for _, a := range u.accts {
		if a.Name == name {
			return a, nil
		}
	}
	return Account{}, fmt.Errorf("no account %q", name)
}

func (u fakeUsers) LookupUID(uid int) (Account, error) {
	for _, a := range u.accts {
		if a.UID == uid {
			return a, nil
		}
	}
	return Account{}, fmt.Errorf("no account with uid %d", uid)
}

// fileGate holds logons by creating a file, so a crashed helper process and the
// test that resumes after it see the same state.
type fileGate struct{ dir string }

func (g fileGate) path(user string) string { return filepath.Join(g.dir, "held-"+user) }
func (g fileGate) Hold(_ context.Context, user string) error {
	return os.WriteFile(g.path(user), nil, 0o600)
}
func (g fileGate) Release(_ context.Context, user string) error {
	err := os.Remove(g.path(user))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
func (g fileGate) held(user string) bool { _, err := os.Stat(g.path(user)); return err == nil }

// sandbox is one test's world: homes, trash, template, journal and a shared temp
// dir, all under one t.TempDir (or a dir the caller gives, for helper processes).
type sandbox struct {
	root, homes, home, other, outside, tmp, tmplDir, journal, gateDir string
	gate                                                              fileGate
	sink                                                              *eventrec.Recorder
	users                                                             fakeUsers
}

func newSandbox(t testing.TB, root string) *sandbox {
	t.Helper()
	s := &sandbox{root: root}
	s.homes = filepath.Join(root, "home")
	s.home = filepath.Join(s.homes, patronName)
	s.other = filepath.Join(s.homes, "staff")
	s.outside = filepath.Join(root, "etc")
	s.tmp = filepath.Join(root, "tmp")
	s.tmplDir = filepath.Join(root, "template")
	s.journal = filepath.Join(root, "state", "wipe")
	s.gateDir = filepath.Join(root, "gate")
	s.gate = fileGate{dir: s.gateDir}
	s.sink = &eventrec.Recorder{}
	s.sink.CheckContract(t) // every event must pass the wire contract's validation
	s.users = fakeUsers{accts: []Account{
		{Name: patronName, UID: patronUID, GID: patronGID, Home: s.home},
		{Name: "staff", UID: otherUID, GID: otherUID, Home: s.other},
		{Name: "daemon", UID: 1, GID: 1, Home: "/usr/sbin"},
	}}
	return s
}

// build creates the sandbox's directories, template, outside canaries, another
// user's home and a patron home with some content.
func (s *sandbox) build(t testing.TB) {
	t.Helper()
	// let patron processes (setpriv) reach their home, like /home is reachable
	for _, d := range []string{filepath.Dir(s.root), s.root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{s.homes, s.outside, s.gateDir, filepath.Join(s.outside, "sub")} {
		mkdir(t, d, 0o755, 0, 0)
	}
	mkdir(t, s.journal, 0o700, 0, 0)
	mkdir(t, s.tmp, 0o1777, 0, 0)
	writeFile(t, filepath.Join(s.outside, "passwd"), "root:x:0:0::/root:/bin/sh\n", 0o644, 0, 0)
	writeFile(t, filepath.Join(s.outside, "shadow"), "root:*:19000::::::\n", 0o640, 0, 0)
	writeFile(t, filepath.Join(s.outside, "sub", "deep"), "deep canary", 0o600, 0, 0)
	mkdir(t, s.other, 0o700, otherUID, otherUID)
	writeFile(t, filepath.Join(s.other, "thesis.odt"), "staff work", 0o600, otherUID, otherUID)
	// template source: what a fresh patron home looks like
	src := filepath.Join(s.root, "skel")
	mkdir(t, src, 0o700, patronUID, patronGID)
	writeFile(t, filepath.Join(src, ".bashrc"), "# fresh\n", 0o644, patronUID, patronGID)
	mkdir(t, filepath.Join(src, "Desktop"), 0o755, patronUID, patronGID)
	mkdir(t, filepath.Join(src, ".config"), 0o700, patronUID, patronGID)
	writeFile(t, filepath.Join(src, ".config", "policy"), "managed", 0o444, 0, 0)
	if err := os.Symlink("Desktop", filepath.Join(src, "Bureau")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(src, "Bureau"), patronUID, patronGID); err != nil {
		t.Fatal(err)
	}
	if _, err := template.Capture(src, s.tmplDir); err != nil {
		t.Fatal(err)
	}
	mkdir(t, s.home, 0o700, patronUID, patronGID)
	s.fillHome(t, s.home)
	writeFile(t, filepath.Join(s.tmp, "patron-tmp"), "secret", 0o600, patronUID, patronGID)
	mkdir(t, filepath.Join(s.tmp, "patron-dir"), 0o700, patronUID, patronGID)
	writeFile(t, filepath.Join(s.tmp, "patron-dir", "x"), "secret", 0o600, patronUID, patronGID)
	writeFile(t, filepath.Join(s.tmp, "staff-tmp"), "not the patron's", 0o600, otherUID, otherUID)
	writeFile(t, filepath.Join(s.tmp, "root-tmp"), "not the patron's", 0o600, 0, 0)
	if err := os.Symlink(s.outside, filepath.Join(s.tmp, "link-to-etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(s.tmp, "link-to-etc"), patronUID, patronGID); err != nil {
		t.Fatal(err)
	}
}

// fillHome leaves what a patron leaves: documents, a browser profile, a keyring.
func (s *sandbox) fillHome(t testing.TB, home string) {
	t.Helper()
	for _, d := range []string{"Downloads", ".mozilla/firefox/x.default", ".local/share/keyrings", "Desktop"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(home, "Downloads", "cv.pdf"), strings.Repeat("pdf", 1000), 0o600, patronUID, patronGID)
	writeFile(t, filepath.Join(home, ".mozilla/firefox/x.default/cookies.sqlite"), "cookies", 0o600, patronUID, patronGID)
	writeFile(t, filepath.Join(home, ".local/share/keyrings/login.keyring"), "keyring", 0o600, patronUID, patronGID)
	writeFile(t, filepath.Join(home, ".bashrc"), "# modified by the patron\n", 0o644, patronUID, patronGID)
	if err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, patronUID, patronGID)
	}); err != nil {
		t.Fatal(err)
	}
}

func (s *sandbox) config() Config {
	c := DefaultConfig()
	c.PatronUsers = []string{patronName}
	c.TemplateDir = s.tmplDir
	c.JournalDir = s.journal
	c.TempDirs = []string{s.tmp}
	c.PrintSpoolDirs = []string{}
	c.ProtectedDirs = []string{filepath.Join(s.root, "state")}
	c.KillTimeout = 10 * time.Second
	return c
}

func (s *sandbox) engine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), s.sink,
		WithGate(s.gate), WithUsers(s.users), WithPrintQueue(nil))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mkdir(t testing.TB, p string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	if err := os.MkdirAll(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, p, content string, mode fs.FileMode, uid, gid int) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// snapshot records what a canary tree looks like: type, mode, owner, size,
// mtime, content hash and link target of every entry, never following links.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		v := fmt.Sprintf("%v %d:%d size=%d mtime=%d", info.Mode(), st.Uid, st.Gid, info.Size(), info.ModTime().UnixNano())
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			v += " sha256=" + hex.EncodeToString(sum[:])
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			v += " -> " + target
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed: %s\n before: %s\n after:  %s", what, p, v, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s gained %s", what, p)
		}
	}
}

// assertHomeIsTemplate checks the home against the template.
func (s *sandbox) assertHomeIsTemplate(t testing.TB) {
	t.Helper()
	tp, err := template.Load(s.tmplDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(s.home)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d := tp.Compare(r, patronUID, patronGID, 0); len(d) != 0 {
		t.Fatalf("home differs from the template: %v", d)
	}
}

// trashEntries lists what is left in the trash root.
func (s *sandbox) trashEntries(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.homes, ".carrel-trash"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func (s *sandbox) journals(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.journal, "*"+journalExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// inMountNS re-executes the current test in a private mount namespace
// (unshare --mount --propagation private) and reports whether the caller is that
// child: the parent gets false after the child passed.
func inMountNS(t *testing.T) bool {
	t.Helper()
	if os.Getenv("CARREL_WIPE_NS") == t.Name() {
		return true
	}
	requireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not installed")
	}
	args := []string{"--mount", "--propagation", "private", os.Args[0],
		"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1", "-test.timeout=10m"}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), "CARREL_WIPE_NS="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("mount-namespace child:\n%s", out)
	if err != nil {
		t.Fatalf("child in mount namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child did not run %s", t.Name())
	}
	return false
}

func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
