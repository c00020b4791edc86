//go:build unix

package template

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mkTree(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown the captured tree")
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, ".config/app"), 0o755))
	must(os.WriteFile(filepath.Join(dir, ".bashrc"), []byte("export PS1='$ '\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, ".config/app/settings.ini"), []byte("[a]\nb=c\n"), 0o600))
	must(os.Mkdir(filepath.Join(dir, "Desktop"), 0o750))
	must(os.Symlink("Desktop", filepath.Join(dir, "Schreibtisch")))
	must(os.Chmod(dir, 0o711))
	must(os.Chown(dir, 4242, 4343))
	must(os.Lchown(filepath.Join(dir, ".bashrc"), 4242, 4343))
	must(os.Lchown(filepath.Join(dir, "Desktop"), 4242, 4343))
	must(os.Lchown(filepath.Join(dir, "Schreibtisch"), 4242, 4343))
}

func TestCaptureInstallCompare(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	mkTree(t, src)
	tmplDir := filepath.Join(t.TempDir(), "tmpl")
	tp, err := Capture(src, tmplDir)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]Entry{}
	for _, e := range tp.Manifest.Entries {
		byPath[e.Path] = e
	}
	if e := byPath[".bashrc"]; e.Owner != OwnerPatron || e.Group != OwnerPatron || e.Mode != 0o644 || e.Size != 16 {
		t.Errorf(".bashrc entry = %+v", e)
	}
	if e := byPath[".config/app/settings.ini"]; e.Owner != "0" || e.Mode != 0o600 {
		t.Errorf("root-owned entry = %+v, want owner 0", e)
	}
	if e := byPath["Schreibtisch"]; e.Type != TypeSymlink || e.Target != "Desktop" {
		t.Errorf("symlink entry = %+v", e)
	}
	loaded, err := Load(tmplDir)
	if err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := loaded.Install(r, 5000, 5001); err != nil {
		t.Fatal(err)
	}
	if d := loaded.Compare(r, 5000, 5001, 0); len(d) != 0 {
		t.Fatalf("fresh install differs: %v", d)
	}
	// The same tree compared for another patron differs in owners.
	if d := loaded.Compare(r, 5002, 5001, 0); len(d) == 0 {
		t.Fatal("owner mismatch not reported")
	}
	// Each kind of change is found.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dst, "extra\u202egnp.exe"), nil, 0o644))
	must(os.WriteFile(filepath.Join(dst, ".bashrc"), []byte("export PS1='# '\n"), 0o644))
	must(os.Chmod(filepath.Join(dst, "Desktop"), 0o777))
	must(os.RemoveAll(filepath.Join(dst, ".config")))
	d := loaded.Compare(r, 5000, 5001, 0)
	got := map[string]string{}
	for _, x := range d {
		got[x.Path] = x.Reason
	}
	for p, want := range map[string]string{
		`"extra\u202egnp.exe"`: "not in the template",
		`".bashrc"`:            "content differs",
		`"Desktop"`:            "mode",
		`".config"`:            "missing",
	} {
		if !strings.Contains(got[p], want) {
			t.Errorf("diff for %s = %q, want %q (all: %v)", p, got[p], want, d)
		}
	}
	if _, ok := got[`".config/app"`]; ok {
		t.Errorf("children of a missing directory listed: %v", d)
	}
}

func TestInstallRefusesCorruptTemplate(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(src, 0o755))
	must(os.WriteFile(filepath.Join(src, "f"), []byte("good"), 0o644))
	tmplDir := filepath.Join(t.TempDir(), "tmpl")
	tp, err := Capture(src, tmplDir)
	must(err)
	must(os.WriteFile(filepath.Join(tmplDir, FilesDir, "f"), []byte("evil"), 0o644))
	dst := t.TempDir()
	r, err := os.OpenRoot(dst)
	must(err)
	defer r.Close()
	if err := tp.Install(r, os.Getuid(), os.Getgid()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Install of a tampered template = %v, want ErrCorrupt", err)
	}
}

func TestCaptureRefuses(t *testing.T) {
	for name, setup := range map[string]func(dir string) error{
		"fifo":      func(d string) error { return mkfifo(filepath.Join(d, "p")) },
		"setuid":    func(d string) error { return os.WriteFile(filepath.Join(d, "s"), nil, 0o4755|os.ModeSetuid) },
		"bad utf-8": func(d string) error { return os.WriteFile(filepath.Join(d, "a\xffb"), nil, 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			src := t.TempDir()
			if err := setup(src); err != nil {
				t.Fatal(err)
			}
			if name == "setuid" {
				if err := os.Chmod(filepath.Join(src, "s"), 0o755|os.ModeSetuid); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Capture(src, filepath.Join(t.TempDir(), "t")); err == nil {
				t.Fatal("capture succeeded")
			}
		})
	}
}
