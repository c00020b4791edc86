package browserpolicy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Browser names, as used in Config.Browsers and in event data.
const (
	Chrome   = "chrome"
	Edge     = "edge"
	Chromium = "chromium"
	Firefox  = "firefox"
)

// allBrowsers is the closed set, in a stable order.
var allBrowsers = []string{Chrome, Edge, Chromium, Firefox}

// Config is the [browser_policy] section of the agent's configuration.
type Config struct {
	// Browsers lists the browsers whose policies Carrel manages: any of
	// "chrome", "edge", "chromium", "firefox"; an empty list manages none.
	// Default: all four. Chromium-family policies are written even where that
	// browser is not installed, so a browser installed later is locked down
	// from its first start.
	Browsers []string `toml:"browsers"`

	// Interval is how often every policy is re-checked and re-asserted, in
	// addition to change notifications (inotify on Linux, registry change
	// notification on Windows). Default 60s; at least 1s.
	Interval time.Duration `toml:"interval"`

	// DownloadRestrictions is the Chromium-family DownloadRestrictions value:
	// 1 = block dangerous downloads (malicious and dangerous file types),
	// 2 = block potentially dangerous downloads (1 plus uncommon or unwanted
	// files), 3 = block ALL downloads (patrons can no longer save a PDF to
	// print), 4 = block malicious downloads only. 0 (no restriction) is refused.
	// Default 2: the strictest value that still lets a patron download a
	// document; the file guard judges what gets through.
	DownloadRestrictions int `toml:"download_restrictions"`

	// DownloadDirectory is the Chromium-family DownloadDirectory, with that
	// policy's variables (${user_home}, ${documents}...). It must match a folder
	// the file guard watches. Default "${user_home}/Downloads" (Windows:
	// "${user_home}\Downloads").
	DownloadDirectory string `toml:"download_directory"`

	// FirefoxDownloadDirectory is Firefox's DownloadDirectory, with Firefox's
	// variable ${home}. Default "${home}/Downloads" (Windows: "${home}\Downloads").
	FirefoxDownloadDirectory string `toml:"firefox_download_directory"`

	// ExtensionAllowlist holds the Chrome Web Store extension IDs (32 letters
	// a-p) that patrons may still install in Chrome, Edge and Chromium; every
	// other extension is blocked. Default empty.
	ExtensionAllowlist []string `toml:"extension_allowlist"`

	// FirefoxExtensionAllowlist holds Firefox add-on IDs (such as
	// "uBlock0@raymondhill.net" or "{GUID}") that patrons may install; every
	// other add-on is blocked. Default empty.
	FirefoxExtensionAllowlist []string `toml:"firefox_extension_allowlist"`

	// TakeOverFirefox lets Carrel replace a Firefox policies.json that another
	// tool wrote (Firefox reads only one). The other file is kept as
	// policies.json.pre-carrel and restored by uninstall. Default false: such a
	// file is left alone, Firefox is not locked down there, and the event
	// policy.refused says so.
	TakeOverFirefox bool `toml:"take_over_firefox"`

	// TakeOverManagedPreferences is TakeOverFirefox for macOS managed
	// preference plists (one per browser, no merging). Default false.
	TakeOverManagedPreferences bool `toml:"take_over_managed_preferences"`
}

// DefaultConfig returns the defaults documented on each Config field.
func DefaultConfig() Config {
	chromiumDir, firefoxDir := platformDownloadDirs()
	return Config{
		Browsers:                 slices.Clone(allBrowsers),
		Interval:                 60 * time.Second,
		DownloadRestrictions:     2,
		DownloadDirectory:        chromiumDir,
		FirefoxDownloadDirectory: firefoxDir,
	}
}

// ErrConfig is matched by every error Validate returns.
var ErrConfig = errors.New("invalid browser policy config")

var (
	chromeExtensionID  = regexp.MustCompile(`^[a-p]{32}$`)
	firefoxExtensionID = regexp.MustCompile(`^(\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}|[A-Za-z0-9._+-]*@[A-Za-z0-9._-]+)$`)
)

// Validate checks the values New and Apply rely on.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	for _, b := range c.Browsers {
		if !slices.Contains(allBrowsers, b) {
			return bad("browsers", "unknown browser %q (known: %s)", b, strings.Join(allBrowsers, ", "))
		}
	}
	if c.Interval < time.Second {
		return bad("interval", "%s is shorter than 1s", c.Interval)
	}
	if c.DownloadRestrictions < 1 || c.DownloadRestrictions > 4 {
		return bad("download_restrictions", "%d is not 1, 2, 3 or 4", c.DownloadRestrictions)
	}
	for _, f := range []struct{ name, v string }{
		{"download_directory", c.DownloadDirectory},
		{"firefox_download_directory", c.FirefoxDownloadDirectory},
	} {
		if f.v == "" {
			return bad(f.name, "is empty")
		}
		if len(f.v) > 1024 || strings.ContainsFunc(f.v, unicode.IsControl) {
			return bad(f.name, "is too long or holds control characters")
		}
	}
	for _, id := range c.ExtensionAllowlist {
		if !chromeExtensionID.MatchString(id) {
			return bad("extension_allowlist", "%q is not a Chrome extension ID", id)
		}
	}
	for _, id := range c.FirefoxExtensionAllowlist {
		if len(id) > 255 || !firefoxExtensionID.MatchString(id) {
			return bad("firefox_extension_allowlist", "%q is not a Firefox add-on ID", id)
		}
	}
	return nil
}

func (c Config) manages(browser string) bool {
	return slices.Contains(c.Browsers, browser)
}
