//go:build windows

package wipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

func sddlOf(t *testing.T, p string) string {
	t.Helper()
	h, err := openNoFollow(p, windows.READ_CONTROL)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	return sd.String()
}

// TestProfileSDDL: the profile's security descriptors parse, and say what
// Windows gives a new profile: the patron owns it; SYSTEM, Administrators and
// the patron have full control; the root's DACL is protected and the entries
// below inherit it.
func TestProfileSDDL(t *testing.T) {
	sid := "S-1-5-21-11-22-33-1001"
	root, dir, file := profileSDDL(sid)
	for _, c := range []struct{ sddl, want string }{
		{root, "O:" + sid + "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + sid + ")"},
		{dir, "O:" + sid + "D:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;FA;;;" + sid + ")"},
		{file, "O:" + sid + "D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;FA;;;" + sid + ")"},
		{trashSDDL, "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"},
	} {
		sd, err := windows.SecurityDescriptorFromString(c.sddl)
		if err != nil {
			t.Fatalf("%s: %v", c.sddl, err)
		}
		if got := sd.String(); got != c.want {
			t.Errorf("SDDL %s reads back as %s, want %s", c.sddl, got, c.want)
		}
	}
}

// TestGiveHomeWindows gives a built tree to the test's own account through
// SetKernelObjectSecurity on handles opened without following reparse points.
// Under Wine the calls succeed but change nothing (Wine derives a file's
// security descriptor from its Unix owner and mode), so there only the walk and
// the calls are shown; on Windows the owner and the DACL are read back.
func TestGiveHomeWindows(t *testing.T) {
	me, rid, _ := currentUser(t)
	root := tempDir(t)
	home := filepath.Join(root, "home")
	writeFiles(t, home, map[string]string{"NTUSER.DAT": "hive", "Desktop/a.txt": "a", "AppData/Local/Temp/b": "b"})
	if err := os.Mkdir(filepath.Join(home, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := giveHome(home, rid); err != nil {
		t.Fatalf("giveHome: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(home, "Desktop", "a.txt")); err != nil || string(b) != "a" {
		t.Fatalf("file changed: %q %v", b, err)
	}
	rootS, _, fileS := profileSDDL(me.String())
	gotRoot, gotFile := sddlOf(t, home), sddlOf(t, filepath.Join(home, "AppData", "Local", "Temp", "b"))
	if underWine() {
		t.Logf("Wine ignores the change: root reads %s, a file %s", gotRoot, gotFile)
	} else {
		if gotRoot != rootS || gotFile != fileS {
			t.Fatalf("root %s, want %s; file %s, want %s", gotRoot, rootS, gotFile, fileS)
		}
	}
	if err := giveHome(filepath.Join(home, "NTUSER.DAT"), rid); err == nil || !strings.Contains(err.Error(), "not a plain directory") {
		t.Fatalf("giveHome of a file: %v", err)
	}
	if err := giveHome(home, -1); err == nil {
		t.Fatal("giveHome for uid -1 succeeded")
	}
}

// TestRestrictDirWindows: the trash root gets a protected SYSTEM and
// Administrators DACL (read back on Windows; Wine ignores it).
func TestRestrictDirWindows(t *testing.T) {
	root := tempDir(t)
	trash := filepath.Join(root, ".carrel-trash")
	if err := ensureTrash(trash); err != nil {
		t.Fatal(err)
	}
	if got := sddlOf(t, trash); underWine() {
		t.Logf("Wine ignores the change: the trash reads %s", got)
	} else if !strings.HasSuffix(got, trashSDDL) {
		t.Fatalf("trash DACL %s, want %s", got, trashSDDL)
	}
	f := filepath.Join(root, "f")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := restrictDir(f); err == nil {
		t.Fatal("restrictDir of a file succeeded")
	}
}
