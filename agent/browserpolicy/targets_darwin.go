//go:build darwin

package browserpolicy

import (
	"os"
	"path/filepath"
)

func platformDownloadDirs() (chromium, firefox string) {
	return "${user_home}/Downloads", "${home}/Downloads"
}

// managedPrefsDir is where managed preferences land; see the package doc for
// how real MDM delivery differs.
const managedPrefsDir = "/Library/Managed Preferences"

// plistDomains are the preference domains of the Chromium family.
var plistDomains = map[string]string{
	Chrome:   "com.google.Chrome",
	Edge:     "com.microsoft.Edge",
	Chromium: "org.chromium.Chromium",
}

// firefoxApp is Firefox's usual install; Carrel writes its distribution
// policies.json when the app exists.
const firefoxApp = "/Applications/Firefox.app"

func (m *Manager) path(p string) string { return filepath.Join(m.root, p) }

func (m *Manager) platformTargets() ([]target, error) {
	var ts []target
	for _, b := range []string{Chrome, Edge, Chromium} {
		if m.cfg.manages(b) {
			ts = append(ts, &fileTarget{
				browser: b,
				path:    m.path(filepath.Join(managedPrefsDir, plistDomains[b]+".plist")),
				content: encodePlist(chromiumPolicy(m.cfg, b)),
				inspect: inspectPlist, takeOver: m.cfg.TakeOverManagedPreferences,
				setting: "take_over_managed_preferences", owned: m.owned,
			})
		}
	}
	if m.cfg.manages(Firefox) {
		if fi, err := os.Stat(m.path(firefoxApp)); err == nil && fi.IsDir() {
			ts = append(ts, &fileTarget{
				browser: Firefox,
				path:    m.path(filepath.Join(firefoxApp, "Contents/Resources/distribution/policies.json")),
				content: encodeFirefoxJSON(firefoxPolicy(m.cfg)),
				inspect: inspectFirefoxJSON, takeOver: m.cfg.TakeOverFirefox,
				setting: "take_over_firefox", owned: m.owned,
			})
		}
	}
	return ts, nil
}

// newNotifier: no FSEvents/kqueue watcher yet (2026-11); Watch re-checks on
// Config.Interval only.
func newNotifier(*Manager) (notifier, error) { return nil, ErrNotImplemented }
