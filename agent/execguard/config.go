package execguard

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/carrel-kiosk/carrel/agent/downloads"
)

// Config is the [execguard] section of the agent's configuration file.
type Config struct {
	// Roots are glob patterns of patron-writable directories from which nothing
	// may run. Default: the file guard's default roots (downloads.DefaultConfig).
	Roots []string `toml:"roots"`
	// Enforce turns on the OS's before-exec enforcement (fanotify on Linux, SRP
	// rules on Windows). Default true.
	Enforce bool `toml:"enforce"`
	// KillProcesses turns on the process watcher. Default true.
	KillProcesses bool `toml:"kill_processes"`
	// PollInterval is how often the process watcher looks at every process.
	// Default "2s".
	PollInterval time.Duration `toml:"poll_interval"`
	// RootsInterval is how often Roots are expanded again; rules are rewritten
	// only when the expansion changed. Default "10s".
	RootsInterval time.Duration `toml:"roots_interval"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Roots:         downloads.DefaultConfig().Roots,
		Enforce:       true,
		KillProcesses: true,
		PollInterval:  2 * time.Second,
		RootsInterval: 10 * time.Second,
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	for _, p := range c.Roots {
		if !filepath.IsAbs(p) {
			return errors.New("execguard: root pattern " + p + " is not absolute")
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return errors.New("execguard: root pattern " + p + ": " + err.Error())
		}
	}
	if c.PollInterval < 100*time.Millisecond {
		return errors.New("execguard: poll_interval must be at least 100ms")
	}
	if c.RootsInterval < time.Second {
		return errors.New("execguard: roots_interval must be at least 1s")
	}
	return nil
}
