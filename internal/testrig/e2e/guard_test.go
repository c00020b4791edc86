package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestBlockedDownloadReachesHub runs the whole chain with the real binaries: a
// browser-style download (written as .crdownload, then renamed) of a Windows
// program into a patron folder is moved to quarantine by the agent, a benign
// PDF beside it is left byte-identical, and the hub stores the download.blocked
// event for that terminal. The session state the agent reports is a real one
// (not "unknown"), from the wired session manager.
func TestBlockedDownloadReachesHub(t *testing.T) {
	hubBin, agentBin := build(t)
	hub := testbin.StartHub(t, hubBin)
	tok := hub.Token(t, 1)

	dir := filepath.Join(t.TempDir(), "pc")
	cfg := AgentConfig(t, dir, tok.HubURL)
	testbin.Run(t, agentBin, "enroll", "--config", cfg, "--hub", tok.HubURL, "--token", tok.Token, "--fingerprint", tok.Fingerprint)
	testbin.Start(t, "agent", nil, agentBin, "run", "--config", cfg)
	testbin.WaitFor(t, 30*time.Second, "the terminal online", func() bool { return len(hub.Online(t)) == 1 })

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

	testbin.WaitFor(t, 30*time.Second, "the program to leave the Downloads folder", func() bool {
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

	var blocked []testbin.Event
	testbin.WaitFor(t, 30*time.Second, "download.blocked stored at the hub", func() bool {
		blocked = hub.Events(t, "", "download.blocked")
		return len(blocked) > 0
	})
	if !strings.Contains(fmt.Sprint(blocked[0].Data), "invoice.pdf.exe") {
		t.Errorf("blocked event does not name the file: %v", blocked[0].Data)
	}

	testbin.WaitFor(t, 30*time.Second, "a real session state in the status", func() bool {
		ts := hub.Terminals(t)
		return len(ts) == 1 && ts[0].Session() == protocol.SessionFree
	})
}
