// Package installer builds the packages IT deploys carrel-agent with: a Windows
// MSI (WiX v3 source compiled by wixl, optionally Authenticode-signed with
// osslsigncode) and a Debian package (built with nfpm as a library). One Options
// struct drives every format, like fleet's orbit/pkg/packaging.
//
// Both packages put the agent where `carrel-agent install` would, register the
// same service (`carrel-agent service --config PATH`, restart on failure), and
// leave the enrollment preseed for the service, which enrolls at its first start
// (see agent/service):
//
//   - MSI: public properties HUB_URL, HUB_FINGERPRINT and ENROLL_TOKEN are written
//     to HKLM\SOFTWARE\Carrel. Recovery actions: wixl has no ServiceConfig /
//     util:ServiceConfig (no MsiServiceConfigFailureActions table, checked with
//     wixl 0.101 on 2026-11-23), so a deferred custom action runs
//     `sc.exe failure` after InstallServices, and the agent re-asserts the same
//     actions through the SCM at every start. A full uninstall (not an upgrade)
//     runs `carrel-agent uninstall --purge` to remove state, quarantine, config
//     and the preseed.
//   - .deb: postinst writes /etc/carrel/enroll.env (0600) from HUB_URL,
//     HUB_FINGERPRINT and ENROLL_TOKEN in its environment (or leaves the file IT
//     dropped there), then enables and starts the unit; purge removes
//     /etc/carrel, /var/lib/carrel-agent and the preseed.
//
// The hub has its own .deb (BuildHubDeb, HubOptions): the unit of
// internal/hubservice run as the carrel-hub system user, which postinst makes
// with /var/lib/carrel-hub (0700); purge removes both. /etc/default/carrel-hub
// (a conffile) holds CARREL_HUB_OPTS, added to `carrel-hub serve`.
//
// It is not a general packaging library. Limitations (2026-12): no macOS .pkg
// (pkgbuild/productbuild do not exist on Linux; on macOS IT runs
// `carrel-agent install`, which registers a launchd daemon); the MSI is x64 only
// (wixl has no arm64) and is the agent's only (a Windows hub is installed with
// `carrel-hub install`); no RPM.
package installer
