// Package browserpolicy is layer 1 of the download guard: it writes the managed
// (machine-wide, patron-proof) policies of Chrome, Edge, Chromium and Firefox,
// re-asserts them when a patron or another program changes or deletes them, and
// removes what Carrel wrote when the agent is uninstalled.
//
// What it writes, per browser family:
//
//   - Chromium family (Chrome, Edge, Chromium): DownloadRestrictions (Config,
//     default 2 "block potentially dangerous downloads"; see Config), a fixed
//     DownloadDirectory with PromptForDownloadLocation off, every extension
//     blocked except Config.ExtensionAllowlist, developer tools off, incognito
//     (Edge: InPrivate) off, sign-in, sync and the password manager off, all
//     browsing data cleared on exit (Edge has no ClearBrowsingDataOnExitList:
//     it gets ClearBrowsingDataOnExit and ClearCachedImagesAndFilesOnExit), and
//     Safe Browsing (Edge: SmartScreen) pinned on, because the "malicious" part
//     of DownloadRestrictions relies on it.
//   - Firefox: DownloadDirectory, PromptForDownloadLocation off, every extension
//     blocked except Config.FirefoxExtensionAllowlist, DisableDeveloperTools,
//     private browsing off (DisablePrivateBrowsing for old ESRs and
//     PrivateBrowsingModeAvailability 1 for Firefox 130+/ESR 128.3+),
//     SanitizeOnShutdown (everything, locked), PasswordManagerEnabled off.
//     Firefox has no DownloadRestrictions: for Firefox the file guard (layer 2)
//     is the only block.
//
// Where:
//
//   - Linux: one JSON file named carrel.json in each Chromium-family managed
//     directory (/etc/opt/chrome, /etc/chromium, /etc/opt/edge
//     .../policies/managed). These browsers merge every file of that directory,
//     so Carrel never edits another tool's file. Firefox reads exactly one
//     policies.json: Carrel writes /etc/firefox/policies/policies.json and
//     /etc/firefox-esr/policies/policies.json, and the distribution directory of
//     each known install path that exists (/usr/lib/firefox,
//     /usr/lib/firefox-esr, /usr/lib64/firefox, /opt/firefox).
//   - Windows: registry values under HKLM\SOFTWARE\Policies\{Google\Chrome,
//     Microsoft\Edge, Chromium, Mozilla\Firefox}; DWORD for booleans and
//     numbers, REG_SZ for strings, list policies as a subkey of values "1",
//     "2"...; Firefox's ExtensionSettings as a REG_SZ holding JSON and
//     SanitizeOnShutdown as a subkey of DWORDs. Carrel owns the value names it
//     writes and nothing else in those keys.
//   - macOS: XML plists in /Library/Managed Preferences (com.google.Chrome,
//     com.microsoft.Edge, org.chromium.Chromium) and Firefox's
//     Firefox.app/Contents/Resources/distribution/policies.json.
//
// Files that hold one tool's policies alone (Firefox's policies.json, a macOS
// managed-preferences plist) carry a Carrel marker. A file of that kind that
// Carrel did not write is left alone and reported (event policy.refused) unless
// Config.TakeOverFirefox (or TakeOverManagedPreferences on macOS) is set; when
// taking over, the other file is kept beside it as NAME.pre-carrel and put
// back by Remove. On Windows the same rule applies to a Program Files
// distribution\policies.json, because Firefox ignores that file as soon as any
// registry policy exists.
//
// Every write is atomic (temporary file, fsync, rename, fsync of the directory;
// mode 0644, owner root) and every re-check compares the bytes, the mode and the
// owner, so a chmod counts as tampering too.
//
// Verify reads every policy back from where its browser reads it, writing
// nothing: the self-test's proof (agent/selftest).
//
// It is not a sandbox, not a URL filter and not the file guard: it only asks the
// browsers to behave, and a browser that is not one of the four (or a portable
// copy run from a patron-writable folder, which the exec guard stops) ignores it.
//
// Limitations (2026-11):
//   - macOS: real deployments deliver managed preferences through an MDM
//     configuration profile; cfprefsd may rewrite or ignore a plist dropped into
//     /Library/Managed Preferences by hand, and macOS re-checking is by polling
//     only (no FSEvents/kqueue yet). Not tested on a real Mac.
//   - Windows: tested under Wine 8.0 (registry writes, change notification,
//     removal), not yet on real Windows with real browsers; ExtensionSettings
//     as JSON in one REG_SZ is the form Mozilla's templates use, not verified
//     against a running Firefox here. While a foreign Program Files
//     policies.json blocks the Firefox key, values Carrel wrote there before
//     stay until Remove.
//   - Chromium on Linux as a snap or flatpak reads other directories; only the
//     deb/rpm paths above are covered.
//   - Policy values are checked by Carrel, not by the browsers: open
//     chrome://policy or about:policies on a test PC to confirm a new browser
//     release still understands them.
package browserpolicy
