package browserpolicy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
)

// A policy is one browser's set of managed policies: name → value, where a value
// is a bool, an int, a string, a []string (a list policy; empty means "must not
// be set") or a map[string]any (an object policy, Firefox only).
type policy map[string]any

// clearOnExitTypes is every data type ClearBrowsingDataOnExitList knows (2026-11).
var clearOnExitTypes = []string{
	"browsing_history", "download_history", "cookies_and_other_site_data",
	"cached_images_and_files", "password_signin", "autofill", "site_settings",
	"hosted_app_data",
}

// chromiumPolicy is the managed policy of Chrome, Edge or Chromium.
func chromiumPolicy(cfg Config, browser string) policy {
	p := policy{
		"DownloadRestrictions":       cfg.DownloadRestrictions,
		"DownloadDirectory":          cfg.DownloadDirectory,
		"PromptForDownloadLocation":  false,
		"ExtensionInstallBlocklist":  []string{"*"},
		"ExtensionInstallAllowlist":  slices.Clone(cfg.ExtensionAllowlist),
		"DeveloperToolsAvailability": 2, // disallowed everywhere
		"BrowserSignin":              0, // disabled
		"SyncDisabled":               true,
		"PasswordManagerEnabled":     false,
	}
	if p["ExtensionInstallAllowlist"] == nil {
		p["ExtensionInstallAllowlist"] = []string{}
	}
	if browser == Edge {
		p["InPrivateModeAvailability"] = 1 // disabled
		// Edge has no ClearBrowsingDataOnExitList (2026-11).
		p["ClearBrowsingDataOnExit"] = true
		p["ClearCachedImagesAndFilesOnExit"] = true
		// Edge's DownloadRestrictions verdicts come from SmartScreen.
		p["SmartScreenEnabled"] = true
		p["PreventSmartScreenPromptOverrideForFiles"] = true
	} else {
		p["IncognitoModeAvailability"] = 1 // disabled
		p["ClearBrowsingDataOnExitList"] = slices.Clone(clearOnExitTypes)
		// The "malicious" verdicts of DownloadRestrictions come from Safe
		// Browsing: keep the patron from turning it off.
		p["SafeBrowsingProtectionLevel"] = 1 // standard
	}
	return p
}

// firefoxPolicy is Firefox's managed policy (the "policies" object of
// policies.json).
func firefoxPolicy(cfg Config) policy {
	ext := map[string]any{"*": map[string]any{"installation_mode": "blocked"}}
	for _, id := range cfg.FirefoxExtensionAllowlist {
		ext[id] = map[string]any{"installation_mode": "allowed"}
	}
	return policy{
		"DownloadDirectory":         cfg.FirefoxDownloadDirectory,
		"PromptForDownloadLocation": false,
		"ExtensionSettings":         ext,
		"DisableDeveloperTools":     true,
		// DisablePrivateBrowsing for ESRs before 128.3,
		// PrivateBrowsingModeAvailability (1 = not available) after.
		"DisablePrivateBrowsing":          true,
		"PrivateBrowsingModeAvailability": 1,
		"SanitizeOnShutdown": map[string]any{
			"Cache": true, "Cookies": true, "Downloads": true, "FormData": true,
			"History": true, "Sessions": true, "SiteSettings": true,
			"OfflineApps": true, "Locked": true,
		},
		"PasswordManagerEnabled": false,
	}
}

// forBrowser returns the policy Carrel manages for one browser.
func forBrowser(cfg Config, browser string) policy {
	if browser == Firefox {
		return firefoxPolicy(cfg)
	}
	return chromiumPolicy(cfg, browser)
}

// present drops list policies that are empty (they must not be set at all), for
// encoders that write whole documents.
func (p policy) present() map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if l, ok := v.([]string); ok && len(l) == 0 {
			continue
		}
		out[k] = v
	}
	return out
}

// names returns the policy names in a stable order.
func (p policy) names() []string {
	return slices.Sorted(maps.Keys(p))
}

// policyVersion is a short hash of the effective policy of every managed
// browser; it changes whenever what Carrel asks of a browser changes.
func policyVersion(cfg Config) string {
	all := map[string]any{}
	for _, b := range allBrowsers {
		if cfg.manages(b) {
			all[b] = forBrowser(cfg, b).present()
		}
	}
	buf, err := json.Marshal(all) // map keys are sorted: stable
	if err != nil {
		panic("browserpolicy: policy does not encode: " + err.Error()) // built from fixed types
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:6])
}
