package downloads

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"
)

// Config is the [downloads] section of the agent's configuration file.
type Config struct {
	// Roots are glob patterns (filepath.Match syntax) of patron-writable
	// directories, watched recursively. They are expanded at start and again
	// every RootsInterval, so homes made later are picked up. A match that is a
	// symbolic link is skipped. Default per OS: Linux "/home/*", "/tmp",
	// "/var/tmp", "/dev/shm"; Windows `C:\Users\*`, `C:\Windows\Temp`;
	// macOS "/Users/*", "/private/tmp", "/private/var/tmp".
	Roots []string `toml:"roots"`
	// Exclude are glob patterns of directories below the roots whose files are
	// not judged (busy caches). Default per OS: Linux "/home/*/.cache";
	// Windows `C:\Users\*\AppData\Local\Microsoft\Windows\INetCache`; macOS
	// "/Users/*/Library/Caches".
	Exclude []string `toml:"exclude"`
	// RemovableDrives adds mounted removable media to the roots (Linux
	// "/media/*/*" and "/run/media/*/*", Windows removable drive letters, macOS
	// "/Volumes/*"). Default false.
	RemovableDrives bool `toml:"removable_drives"`
	// QuarantineDir holds blocked files; only the service may read it. Default:
	// Linux "/var/lib/carrel/quarantine", Windows
	// `C:\ProgramData\Carrel\quarantine`, macOS
	// "/Library/Application Support/Carrel/quarantine".
	QuarantineDir string `toml:"quarantine_dir"`
	// RootsInterval is how often Roots are expanded again; a root made again
	// (a profile recreated by the session wipe) is watched and scanned anew
	// within this time, and files written meanwhile are found by that scan.
	// Default "10s".
	RootsInterval time.Duration `toml:"roots_interval"`
	// Workers is how many files are judged at once. Default 2.
	Workers int `toml:"workers"`
}

// DefaultConfig returns the defaults documented on Config for this OS.
func DefaultConfig() Config {
	return Config{
		Roots:         defaultRoots(),
		Exclude:       defaultExclude(),
		QuarantineDir: defaultQuarantineDir(),
		RootsInterval: 10 * time.Second,
		Workers:       2,
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	for _, p := range append(append([]string(nil), c.Roots...), c.Exclude...) {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("downloads: pattern %q is not absolute", p)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return fmt.Errorf("downloads: pattern %q: %w", p, err)
		}
	}
	if c.QuarantineDir == "" || !filepath.IsAbs(c.QuarantineDir) {
		return errors.New("downloads: quarantine_dir must be an absolute path")
	}
	if c.RootsInterval < time.Second {
		return errors.New("downloads: roots_interval must be at least 1s")
	}
	if c.Workers < 1 || c.Workers > 64 {
		return errors.New("downloads: workers must be between 1 and 64")
	}
	return nil
}

// ExpandRoots expands root patterns to the existing directories they match,
// sorted and without duplicates, skipping symbolic links. The exec guard uses
// the same expansion for its patron-writable trees.
func ExpandRoots(patterns []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			continue
		}
		for _, m := range matches {
			m = filepath.Clean(m)
			if seen[m] || !isPlainDir(m) {
				continue
			}
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Under reports whether path is root or lies below it.
func Under(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && !startsDotDot(rel) && !filepath.IsAbs(rel)
}
