package e2e

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBlockedDownloadReachesHub runs the whole chain with the real binaries: a
// browser-style download (written as .crdownload, then renamed) of a Windows
// program into a patron folder is moved to quarantine by the agent, a benign
// PDF beside it is left byte-identical, and the hub stores the download.blocked
// event for that terminal. The session state the agent reports is a real one
// (not "unknown"), from the wired session manager.
func TestBlockedDownloadReachesHub(t *testing.T) {
	hubBin, agentBin := build(t)
	root := t.TempDir()
	data := filepath.Join(root, "hub")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	start(t, "carrel-hub serve", hubBin, "serve", "--data", data, "--listen", addr)
	waitFor(t, 30*time.Second, "the hub to listen", func() bool { return dialable(addr) })
	url, token, fp := tokenCreate(t, hubBin, data, "wss://"+addr, 1)

	dir := filepath.Join(root, "pc")
	cfg := AgentConfig(t, dir, url)
	run(t, agentBin, "enroll", "--config", cfg, "--hub", url, "--token", token, "--fingerprint", fp)
	start(t, "agent", agentBin, "run", "--config", cfg)
	waitFor(t, 30*time.Second, "the terminal online", func() bool { return online(terminals(t, hubBin, data)) == 1 })

	dl := filepath.Join(dir, "patron", "Downloads")
	pdf := []byte("%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	if err := os.WriteFile(filepath.Join(dl, "timetable.pdf"), pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	// A minimal PE: MZ header whose e_lfanew points at "PE\0\0".
	pe := make([]byte, 512)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	part := filepath.Join(dl, "invoice.pdf.crdownload")
	if err := os.WriteFile(part, pe, 0o644); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dl, "invoice.pdf.exe")
	if err := os.Rename(part, final); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 30*time.Second, "the program to leave the Downloads folder", func() bool {
		_, err := os.Lstat(final)
		return os.IsNotExist(err)
	})
	quarantined := false
	filepath.WalkDir(filepath.Join(dir, "quarantine"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Equal(b, pe) {
				quarantined = true
			}
		}
		return nil
	})
	if !quarantined {
		t.Errorf("the blocked program's bytes are not in the quarantine directory")
	}
	if got, err := os.ReadFile(filepath.Join(dl, "timetable.pdf")); err != nil || !bytes.Equal(got, pdf) {
		t.Errorf("the benign PDF was changed or removed: %v", err)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "hub.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var evData string
	waitFor(t, 30*time.Second, "download.blocked stored at the hub", func() bool {
		return db.QueryRow(`SELECT data FROM events WHERE kind = 'download.blocked'`).Scan(&evData) == nil
	})
	if !bytes.Contains([]byte(evData), []byte("invoice.pdf.exe")) {
		t.Errorf("blocked event does not name the file: %s", evData)
	}

	waitFor(t, 30*time.Second, "a real session state in the status", func() bool {
		var st string
		if db.QueryRow(`SELECT last_status FROM terminals`).Scan(&st) != nil {
			return false
		}
		return bytes.Contains([]byte(st), []byte(`"session":"free"`))
	})
}
