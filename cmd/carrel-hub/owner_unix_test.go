//go:build linux

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// TestCLIKeepsFilesTheHubUsersOwn: root running the CLI on the data directory
// of a hub that runs as its own user leaves the files it makes there (a new
// audit key) and the database owned by that user, or the hub could not open
// them at its next start.
func TestCLIKeepsFilesTheHubUsersOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the data directory another owner")
	}
	data := newHubData(t, "pc-1")
	os.Remove(filepath.Join(data, store.AuditKeyFile))
	const uid, gid = 65534, 65534 // nobody, standing in for carrel-hub
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(t, "terminals", "--data", data); code != 0 {
		t.Fatalf("terminals: %s", errs)
	}
	for _, f := range []string{store.AuditKeyFile, hub.DBFile} {
		fi, err := os.Stat(filepath.Join(data, f))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Errorf("%s owned by %d:%d, want the data directory's %d:%d", f, st.Uid, st.Gid, uid, gid)
		}
	}
}
