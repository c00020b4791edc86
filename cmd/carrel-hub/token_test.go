package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/hub"
	"github.com/carrel-kiosk/carrel/internal/pki"
)

// Enrollment lines name the hub's public agent URL when serve has one, and say
// so when it has none rather than silently naming a loopback address.
func TestTokenHubURLIsThePublicOne(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, public := defaultHubURL(ca, dir); public {
		t.Fatal("a hub that never published a public name gave a public URL")
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, hub.PublishFile),
		[]byte(`{"listen":"127.0.0.1:8443","agent_url":"wss://hub.example.org:8443"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if url, public := defaultHubURL(ca, dir); url != "wss://hub.example.org:8443" || !public {
		t.Fatalf("defaultHubURL = %q, %v; want the published public URL", url, public)
	}
}
