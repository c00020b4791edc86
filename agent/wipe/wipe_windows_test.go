//go:build windows

package wipe

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/wipe/template"
)

// TestWipeWindows runs a whole wipe and its purge with the Windows pieces under
// a temp dir: a patron process whose working directory is in the profile is
// ended by the token killer (limited to the test's descendants), the profile is
// renamed into the SYSTEM-only trash, rebuilt from a captured template and given
// to the patron, the patron's file in a shared temp dir goes while another
// account's stays, and the trash is purged. The patron is the test's own
// account (under Wine every process runs as it); logons are held by a fake gate
// (Wine has no NetUserSetInfo) and the account comes from a fake user database
// (Wine's user is an administrator, which samUsers refuses).
func TestWipeWindows(t *testing.T) {
	me, rid, _ := currentUser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := tempDir(t)
	src, tmplDir := filepath.Join(root, "template-src"), filepath.Join(root, "template")
	home := filepath.Join(root, "Users", "patron")
	shared := filepath.Join(root, "WinTemp")
	writeFiles(t, src, map[string]string{"NTUSER.DAT": "hive", "Desktop/welcome.txt": "welcome", "AppData/Local/Temp/.keep": ""})
	if _, err := template.Capture(src, tmplDir); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, home, map[string]string{"NTUSER.DAT": "patron's hive", "Desktop/welcome.txt": "welcome",
		"Desktop/private.txt": "private", "Downloads/setup.exe": "MZ", "AppData/Local/Temp/t.tmp": "tmp"})
	writeFiles(t, shared, map[string]string{"patron.tmp": "patron", "staff.tmp": "staff", "patron-dir/x": "x"})
	giveToOther(t, me, filepath.Join(shared, "staff.tmp"))
	hs := startHelpers(t, "spawn", filepath.Join(home, "Desktop"), 1)

	cfg := Config{PatronUsers: []string{"patron"}, TemplateDir: tmplDir, JournalDir: filepath.Join(root, "journal"),
		TempDirs: []string{shared}, PrintSpoolDirs: []string{}, ProtectedDirs: []string{filepath.Join(root, "state")},
		KillTimeout: 20 * time.Second}
	g := &memGate{}
	users := winUsers{[]Account{{Name: "patron", UID: rid, Home: home, Groups: []string{"carrel-patrons"}}}}
	e, err := New(cfg, nil, nil, WithGate(g), WithUsers(users), WithKiller(tokenKiller{under: uint32(os.Getpid())}))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.Wipe(ctx, Scope{User: "patron"})
	if err != nil {
		t.Fatalf("Wipe: %v", err)
	}
	if !rep.Ready || !rep.Verified || rep.Mode != ModeSwap || g.isHeld("patron") {
		t.Fatalf("report %+v, held %v", rep, g.isHeld("patron"))
	}
	if alive(hs[0].cmd.Process.Pid) || alive(hs[0].child) {
		t.Fatal("a patron process survived the wipe")
	}
	for _, gone := range []string{"Desktop/private.txt", "Downloads", "AppData/Local/Temp/t.tmp"} {
		if exists(filepath.Join(home, filepath.FromSlash(gone))) {
			t.Errorf("%s survived the wipe", gone)
		}
	}
	if b, err := os.ReadFile(filepath.Join(home, "NTUSER.DAT")); err != nil || string(b) != "hive" {
		t.Fatalf("profile not rebuilt from the template: %q %v", b, err)
	}
	if exists(filepath.Join(shared, "patron.tmp")) || exists(filepath.Join(shared, "patron-dir")) || !exists(filepath.Join(shared, "staff.tmp")) {
		t.Fatal("shared temp dir not cleared of the patron's entries only")
	}
	trash := filepath.Join(root, "Users", ".carrel-trash")
	if !exists(filepath.Join(trash, rep.ID, "home", "Desktop", "private.txt")) {
		t.Fatal("old profile not in the trash before the purge")
	}
	prep, err := e.Purge(ctx, rep.ID)
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if !prep.Purged || len(prep.Leftovers) != 0 || exists(filepath.Join(trash, rep.ID)) {
		t.Fatalf("purge: %+v", prep)
	}
	if ents, err := os.ReadDir(cfg.JournalDir); err != nil || len(ents) != 0 {
		t.Fatalf("journal dir after the purge: %v %v", ents, err)
	}
}
