//go:build darwin

package browserpolicy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func TestDarwinPlists(t *testing.T) {
	root := t.TempDir()
	chrome := filepath.Join(root, managedPrefsDir, "com.google.Chrome.plist")
	edge := filepath.Join(root, managedPrefsDir, "com.microsoft.Edge.plist")
	ff := filepath.Join(root, firefoxApp, "Contents/Resources/distribution/policies.json")
	if err := os.MkdirAll(filepath.Join(root, firefoxApp), 0o755); err != nil {
		t.Fatal(err)
	}
	// An MDM profile already manages Edge.
	mdm := []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>HomepageLocation</key><string>https://library.example</string></dict></plist>`)
	os.MkdirAll(filepath.Dir(edge), 0o755)
	if err := os.WriteFile(edge, mdm, 0o644); err != nil {
		t.Fatal(err)
	}
	sink := newSink(t)
	m := New(DefaultConfig(), root, testLogger(t), sink)
	if _, err := m.Apply(); !errors.Is(err, ErrForeignPolicy) {
		t.Fatalf("Apply: %v", err)
	}
	got, err := decodePlist(mustRead(t, chrome))
	if err != nil || got["DownloadRestrictions"] != 2 || got["IncognitoModeAvailability"] != 1 {
		t.Errorf("chrome plist %v %v", got, err)
	}
	if ours, _ := inspectFirefoxJSON(mustRead(t, ff)); !ours {
		t.Error("firefox policies.json not written")
	}
	if !bytes.Equal(mustRead(t, edge), mdm) {
		t.Error("MDM plist changed")
	}
	if countFor(sink, protocol.EventPolicyRefused, edge) != 1 {
		t.Errorf("events %v", sink)
	}
	os.Remove(chrome)
	if _, err := m.Apply(); !errors.Is(err, ErrForeignPolicy) {
		t.Fatal(err)
	}
	if countFor(sink, protocol.EventPolicyReasserted, chrome) != 1 {
		t.Errorf("events %v", sink)
	}
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{chrome, ff} {
		if _, err := os.Lstat(f); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", f, err)
		}
	}
	if !bytes.Equal(mustRead(t, edge), mdm) {
		t.Error("Remove touched the MDM plist")
	}
}
