package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/hub"
)

// TestServeRefusesNewerDatabase is the downgrade case: a hub.db migrated by a
// newer carrel-hub is refused at start with what to do, and left as it was.
func TestServeRefusesNewerDatabase(t *testing.T) {
	data := newHubData(t, "pc-1")
	dbPath := filepath.Join(data, hub.DBFile)
	db, err := sql.Open("sqlite", "file:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(dbPath)
	code, _, errs := run(t, "serve", "--data", data, "--listen", "127.0.0.1:0")
	for _, want := range []string{"database schema is newer than this carrel-hub", "the database is at version 999", "run a newer carrel-hub, or restore a backup made by this one"} {
		if code != 1 || !strings.Contains(errs, want) {
			t.Errorf("serve on a newer database: exit %d, want 1 and %q:\n%s", code, want, errs)
		}
	}
	if now, _ := os.ReadFile(dbPath); !bytes.Equal(now, before) {
		t.Error("the refused database was changed")
	}
}
