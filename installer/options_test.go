package installer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fakeAgent writes a stand-in binary for tests that do not run it.
func fakeAgent(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "carrel-agent.exe")
	if err := os.WriteFile(p, []byte("MZ stand-in"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOptionsRefusals(t *testing.T) {
	agent := fakeAgent(t)
	out := t.TempDir()
	ok := Options{Version: "1.2.3", AgentBinary: agent, OutDir: out}
	if _, err := ok.withDefaults(); err != nil {
		t.Fatalf("good options refused: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"no version", func(o *Options) { o.Version = "" }},
		{"prerelease", func(o *Options) { o.Version = "1.2.3-rc1" }},
		{"two parts", func(o *Options) { o.Version = "1.2" }},
		{"leading zero", func(o *Options) { o.Version = "01.2.3" }},
		{"arch", func(o *Options) { o.Arch = "386" }},
		{"no binary", func(o *Options) { o.AgentBinary = "" }},
		{"missing binary", func(o *Options) { o.AgentBinary = filepath.Join(out, "nope") }},
		{"binary is dir", func(o *Options) { o.AgentBinary = out }},
		{"no out dir", func(o *Options) { o.OutDir = "" }},
		{"http hub", func(o *Options) { o.HubURL = "http://hub" }},
		{"token injection", func(o *Options) { o.EnrollToken = "x\nHUB_URL=wss://evil" }},
		{"cert without key", func(o *Options) { o.SignCert = "c.pem" }},
		{"maintainer without mail", func(o *Options) { o.Maintainer = "Someone" }},
		{"vendor with newline", func(o *Options) { o.Vendor = "Evil\nDepends: x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mod(&o)
			if _, err := o.withDefaults(); !errors.Is(err, ErrOptions) {
				t.Fatalf("err = %v, want ErrOptions", err)
			}
		})
	}
	if _, err := (Options{Version: "v2.0.1", AgentBinary: agent, OutDir: out}).withDefaults(); err != nil {
		t.Errorf("a leading v is accepted and dropped: %v", err)
	}
}
