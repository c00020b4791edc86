// Package config reads the agent's one TOML configuration file and checks the
// state directory that holds the agent's secrets.
//
// The file has documented defaults for every field, so an empty file (or a file
// with only hub_url) is a working configuration. Unknown keys are refused with an
// error that names them: a typo must not silently fall back to a default.
// Other components' sections ([downloads], [wipe], ...) are added to Config by the
// composition root as they arrive; each component owns its own Config type.
//
// It is not a policy store: what staff set on the hub travels over the link.
// Limitations (2026-11): the file is read once at start; a change needs a restart.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/agent/execguard"
	"github.com/carrel-kiosk/carrel/agent/session"
	"github.com/carrel-kiosk/carrel/agent/wipe"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// ErrNotImplemented is returned by the per-OS parts on a platform Carrel does not support.
var ErrNotImplemented = fmt.Errorf("not implemented on this platform: %w", errors.ErrUnsupported)

// ErrInsecureStateDir is matched (errors.Is) by every refusal of CheckStateDir.
var ErrInsecureStateDir = errors.New("state directory is not private to the agent")

// MaxFileSize bounds the configuration file; anything larger is refused unread.
const MaxFileSize = 1 << 20

// Config is the whole agent configuration file.
type Config struct {
	// HubURL is the hub the agent dials, e.g. "wss://hub.library.example:8443".
	// Only wss:// is accepted. Default: empty (set by `carrel-agent enroll`).
	HubURL string `toml:"hub_url"`
	// StateDir holds the agent's key, certificates, outbox and counters. It must be
	// private to the service. Default: /var/lib/carrel-agent (Linux),
	// C:\ProgramData\Carrel\state (Windows), /Library/Application Support/Carrel/state (macOS).
	StateDir string `toml:"state_dir"`
	// StatusInterval is how often a full status goes to the hub even when nothing
	// changed. Default: 30s. Minimum 1s.
	StatusInterval Duration `toml:"status_interval"`
	// OutboxMaxEvents bounds the events kept for the hub while it is unreachable;
	// the oldest are dropped (and counted) beyond it. Default: 10000.
	OutboxMaxEvents int `toml:"outbox_max_events"`
	// OutboxMaxBytes bounds the outbox on disk in bytes. Default: 16777216 (16 MiB).
	OutboxMaxBytes int64 `toml:"outbox_max_bytes"`
	// LogLevel is one of debug, info, warn, error. Default: info.
	LogLevel string `toml:"log_level"`
	// Disable lists components that do not run on this PC, by section name:
	// "downloads", "exec_guard", "browser_policy", "session". Default: none (all
	// run). The link to the hub always runs.
	Disable []string `toml:"disable"`

	// The components' own sections; each package documents its fields and defaults.
	Classify      classify.Config      `toml:"classify"`
	Downloads     downloads.Config     `toml:"downloads"`
	ExecGuard     execguard.Config     `toml:"exec_guard"`
	BrowserPolicy browserpolicy.Config `toml:"browser_policy"`
	// Session decides who is a patron (patron_users, patron_group, staff_users):
	// that one list is also what the wipe engine may wipe.
	Session session.Config `toml:"session"`
	// Wipe's patron_users and patron_group are ignored by the service (the
	// [session] lists are used); they serve the stand-alone 'carrel-agent wipe'.
	Wipe wipe.Config `toml:"wipe"`
	// SelfTest is when the service proves its guards and where the canaries go.
	SelfTest SelfTest `toml:"selftest"`
}

// Components are the names Disable accepts.
var Components = []string{"downloads", "exec_guard", "browser_policy", "session"}

// Enabled reports whether the component of that section name runs.
func (c *Config) Enabled(name string) bool { return !slices.Contains(c.Disable, name) }

// DefaultConfig returns the configuration used for every field the file leaves out.
func DefaultConfig() Config {
	return Config{
		StateDir:        defaultStateDir,
		StatusInterval:  Duration(30 * time.Second),
		OutboxMaxEvents: 10000,
		OutboxMaxBytes:  16 << 20,
		LogLevel:        "info",
		Classify:        classify.DefaultConfig(),
		Downloads:       downloads.DefaultConfig(),
		ExecGuard:       execguard.DefaultConfig(),
		BrowserPolicy:   browserpolicy.DefaultConfig(),
		Session:         session.DefaultConfig(),
		Wipe:            wipe.DefaultConfig(),
		SelfTest:        DefaultSelfTest(),
	}
}

// DefaultPath is where the agent looks for its configuration file on this OS.
func DefaultPath() string { return defaultPath }

// Duration is a time.Duration written in TOML as a string such as "30s" or "5m".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads the file at path over the defaults. A missing file is an error:
// an agent without a hub URL has nothing to do.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return Config{}, fmt.Errorf("read config %s: larger than %d bytes", path, MaxFileSize)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a configuration file's contents over the defaults and validates it.
func Parse(data []byte) (Config, error) {
	c := DefaultConfig()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return Config{}, fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every field. An empty HubURL is allowed here (the agent refuses
// to connect later); a non-empty one must be wss://.
func (c *Config) Validate() error {
	if c.HubURL != "" {
		if err := CheckHubURL(c.HubURL); err != nil {
			return fmt.Errorf("hub_url: %w", err)
		}
	}
	if c.StateDir == "" {
		return errors.New("state_dir: is empty")
	}
	if !filepath.IsAbs(c.StateDir) {
		return fmt.Errorf("state_dir: %q is not an absolute path", c.StateDir)
	}
	if c.StatusInterval.D() < time.Second {
		return fmt.Errorf("status_interval: %s is shorter than 1s", c.StatusInterval.D())
	}
	if c.OutboxMaxEvents < 10 {
		return fmt.Errorf("outbox_max_events: %d is below 10", c.OutboxMaxEvents)
	}
	if c.OutboxMaxBytes < 64<<10 {
		return fmt.Errorf("outbox_max_bytes: %d is below 65536", c.OutboxMaxBytes)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	for _, d := range c.Disable {
		if !slices.Contains(Components, d) {
			return fmt.Errorf("disable: %q is not one of %s", d, strings.Join(Components, ", "))
		}
	}
	if err := c.Classify.Validate(); err != nil {
		return fmt.Errorf("[classify]: %w", err)
	}
	if err := c.Downloads.Validate(); err != nil {
		return fmt.Errorf("[downloads]: %w", err)
	}
	if err := c.ExecGuard.Validate(); err != nil {
		return fmt.Errorf("[exec_guard]: %w", err)
	}
	if err := c.BrowserPolicy.Validate(); err != nil {
		return fmt.Errorf("[browser_policy]: %w", err)
	}
	if err := c.SelfTest.Validate(); err != nil {
		return fmt.Errorf("[selftest]: %w", err)
	}
	return nil
}

// CheckHubURL accepts only wss://HOST[:PORT] with an optional path and nothing else.
func CheckHubURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "wss" {
		return fmt.Errorf("%q must start with wss:// (the link is always TLS)", s)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must not carry user info, a query or a fragment", s)
	}
	return nil
}

// ParseLevel maps log_level to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// Example returns a commented configuration file showing every field with its default.
func Example() string {
	d := DefaultConfig()
	return fmt.Sprintf(`# Carrel agent configuration (%s).
# Every key is optional except hub_url; the values shown are the defaults.
# Unknown keys are refused, so a typo stops the agent instead of being ignored.

# The hub this PC reports to. Only wss:// is accepted. 'carrel-agent enroll' writes it.
# hub_url = "wss://hub.library.example:8443"

# Where the agent keeps its key, certificates and outbox. Only the service may read it
# (the agent refuses to start otherwise).
state_dir = %q

# How often a full status is sent even when nothing changed.
status_interval = %q

# Events kept on disk while the hub is unreachable; beyond either bound the oldest
# are dropped and the number dropped is reported to the hub.
outbox_max_events = %d
outbox_max_bytes = %d

# debug, info, warn or error.
log_level = %q

# Components that do not run on this PC: any of "downloads", "exec_guard",
# "browser_policy", "session". The link to the hub always runs.
# disable = []

# Each component has its own section with documented defaults; set only what
# differs. Who is a patron is decided in [session] and nowhere else:
# [session]
# patron_users = ["patron"]
# patron_group = ""
# staff_users = []
# patron_signin = false   # patrons sign in with a library card or a guest pass
# offline_minutes = 0     # hub unreachable at sign-in: 0 stays locked, N = an N-minute session
#
# [downloads]        # roots = [...], quarantine_dir = "...", removable_drives = false
# [exec_guard]       # roots = [...], enforce = true, kill_processes = true
# [classify]         # block_office_macros = false, allow_sha256 = [], block_sha256 = []
# [browser_policy]   # download_restrictions = 2, ...
# [wipe]             # template_dir = "...", temp_dirs = [...]
# [selftest]         # nightly = "03:00" (local; "off": never), jitter = "30m", canary_dir = ""
`, DefaultPath(), d.StateDir, d.StatusInterval.D().String(), d.OutboxMaxEvents, d.OutboxMaxBytes, d.LogLevel)
}

// SetHubURL makes the file at path name hub. A missing file is created from
// Example with hub_url set; a file without hub_url gets it added at the top; a
// file that already names the same hub is left alone; a file naming another hub
// is an error (IT must edit it deliberately).
func SetHubURL(path, hub string) error {
	if err := CheckHubURL(hub); err != nil {
		return fmt.Errorf("hub url: %w", err)
	}
	line := fmt.Sprintf("hub_url = %q\n", hub)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		data = []byte(line + "\n" + Example())
	case err != nil:
		return fmt.Errorf("read config: %w", err)
	default:
		c, err := Parse(data)
		if err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		if c.HubURL == hub {
			return nil
		}
		if c.HubURL != "" {
			return fmt.Errorf("config %s already names hub %s; edit hub_url there to move this PC to %s", path, c.HubURL, hub)
		}
		data = append([]byte(line), data...)
	}
	if _, err := Parse(data); err != nil {
		return fmt.Errorf("config %s with hub_url: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
