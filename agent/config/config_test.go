package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// absState is an absolute path on every OS (a TOML literal string needs no escapes).
var absState = filepath.Join(os.TempDir(), "carrel-state")

var parseCases = []struct {
	name    string
	in      string
	wantErr string // substring; empty means success
	check   func(t *testing.T, c Config)
}{
	{name: "empty file gives defaults", in: "", check: func(t *testing.T, c Config) {
		if !reflect.DeepEqual(c, DefaultConfig()) {
			t.Fatalf("got %+v, want defaults %+v", c, DefaultConfig())
		}
	}},
	{name: "all fields", in: `hub_url = "wss://hub.example:8443"
state_dir = '` + absState + `'
status_interval = "5s"
outbox_max_events = 50
outbox_max_bytes = 100000
log_level = "debug"`, check: func(t *testing.T, c Config) {
		want := DefaultConfig()
		want.HubURL, want.StateDir, want.StatusInterval = "wss://hub.example:8443", absState, Duration(5*time.Second)
		want.OutboxMaxEvents, want.OutboxMaxBytes, want.LogLevel = 50, 100000, "debug"
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("got %+v, want %+v", c, want)
		}
	}},
	{name: "unknown key named", in: "hub_url = \"wss://h\"\nstatus_intreval = \"5s\"\n", wantErr: "unknown key status_intreval"},
	{name: "unknown table key named", in: "[downloads]\nenabled = true\n", wantErr: "unknown key downloads"},
	{name: "ws refused", in: `hub_url = "ws://hub:80"`, wantErr: "must start with wss://"},
	{name: "http refused", in: `hub_url = "http://hub"`, wantErr: "must start with wss://"},
	{name: "https refused", in: `hub_url = "https://hub"`, wantErr: "must start with wss://"},
	{name: "no host", in: `hub_url = "wss:///x"`, wantErr: "has no host"},
	{name: "user info refused", in: `hub_url = "wss://u:p@hub"`, wantErr: "user info"},
	{name: "bad duration", in: `status_interval = "often"`, wantErr: "status_interval"},
	{name: "too short interval", in: `status_interval = "10ms"`, wantErr: "shorter than 1s"},
	{name: "relative state dir", in: `state_dir = "state"`, wantErr: "not an absolute path"},
	{name: "tiny outbox", in: `outbox_max_events = 1`, wantErr: "outbox_max_events"},
	{name: "tiny outbox bytes", in: `outbox_max_bytes = 10`, wantErr: "outbox_max_bytes"},
	{name: "bad level", in: `log_level = "loud"`, wantErr: "log_level"},
	{name: "wrong type", in: `outbox_max_events = "many"`, wantErr: "outbox_max_events"},
	{name: "not toml", in: `hub_url = `, wantErr: "parse"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestExampleParsesToDefaults(t *testing.T) {
	c, err := Parse([]byte(Example()))
	if err != nil {
		t.Fatalf("example does not parse: %v\n%s", err, Example())
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Fatalf("example gives %+v, want the defaults %+v", c, DefaultConfig())
	}
	for _, key := range []string{"hub_url", "state_dir", "status_interval", "outbox_max_events", "outbox_max_bytes", "log_level"} {
		if !strings.Contains(Example(), key) {
			t.Errorf("example does not mention %s", key)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := tempDir(t)
	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: err = %v", err)
	}
	ok := filepath.Join(dir, "ok.toml")
	if err := os.WriteFile(ok, []byte(`log_level = "warn"`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ok)
	if err != nil || c.LogLevel != "warn" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}

func TestSetHubURL(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "sub", "agent.toml")
	const hub = "wss://hub.example:8443"

	if err := SetHubURL(path, "ws://hub.example"); err == nil {
		t.Fatal("ws:// accepted")
	}
	if err := SetHubURL(path, hub); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil || c.HubURL != hub {
		t.Fatalf("new file: %+v, %v", c, err)
	}
	if err := SetHubURL(path, hub); err != nil {
		t.Fatalf("same hub again: %v", err)
	}
	if err := SetHubURL(path, "wss://other.example"); err == nil || !strings.Contains(err.Error(), "already names hub") {
		t.Fatalf("other hub: err = %v", err)
	}

	// An existing file without hub_url keeps its content and gains the key.
	path2 := filepath.Join(dir, "agent2.toml")
	if err := os.WriteFile(path2, []byte("# mine\nlog_level = \"debug\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SetHubURL(path2, hub); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path2)
	if err != nil || c.HubURL != hub || c.LogLevel != "debug" {
		t.Fatalf("existing file: %+v, %v", c, err)
	}
	data, _ := os.ReadFile(path2)
	if !strings.Contains(string(data), "# mine") {
		t.Fatalf("comment lost:\n%s", data)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(Example()))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
		if c.HubURL != "" && !strings.HasPrefix(c.HubURL, "wss://") {
			t.Fatalf("accepted hub_url %q", c.HubURL)
		}
	})
}

func TestComponentSections(t *testing.T) {
	roots := filepath.Join(os.TempDir(), "patron", "*") // absolute on every OS
	c, err := Parse([]byte(`
disable = ["browser_policy", "exec_guard"]
[downloads]
roots = ['` + roots + `']
roots_interval = "3s"
[session]
patron_users = ["reader1", "reader2"]
[classify]
block_office_macros = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Enabled("browser_policy") || c.Enabled("exec_guard") || !c.Enabled("downloads") || !c.Enabled("session") {
		t.Errorf("disable list not applied: %v", c.Disable)
	}
	if len(c.Downloads.Roots) != 1 || c.Downloads.Roots[0] != roots || c.Downloads.RootsInterval != 3*time.Second {
		t.Errorf("[downloads] not read: %+v", c.Downloads)
	}
	if !c.Classify.BlockOfficeMacros || len(c.Session.PatronUsers) != 2 {
		t.Errorf("[classify]/[session] not read")
	}
	// Defaults survive in sections the file leaves out.
	if c.Wipe.TemplateDir == "" || c.ExecGuard.PollInterval == 0 {
		t.Errorf("section defaults lost: wipe %+v exec_guard %+v", c.Wipe, c.ExecGuard)
	}
	for _, bad := range []string{
		`disable = ["link"]`,
		"[downloads]\nroots = [\"relative/*\"]",
		"[downloads]\nrootz = []",
		"[session]\npatron_user = [\"x\"]",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// The example documents the sections and still parses.
	if _, err := Parse([]byte(Example())); err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
}
