package protocol

import (
	"regexp"
	"strings"
)

// The agent's package files, named as carrel-package builds them (the
// installer package; cmd/carrel-package's tests hold the two to the same
// names), so that the hub's enrollment lines name the file IT has.

// AgentMSIFile is the file name of the agent's Windows MSI of version.
func AgentMSIFile(version string) string { return "carrel-agent-" + version + "-x64.msi" }

// AgentDebFile is the file name of the agent's Debian package of version for
// arch (a GOARCH: amd64, arm64).
func AgentDebFile(version, arch string) string {
	return "carrel-agent_" + version + "-1_" + arch + ".deb"
}

var releaseRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})$`)

// PackageVersion is version as a package version (MAJOR.MINOR.PATCH, a
// leading "v" dropped), or "VERSION" when version is not a release (a
// development build: the packages carry whatever version IT gave them).
func PackageVersion(version string) string {
	if v := strings.TrimPrefix(version, "v"); releaseRE.MatchString(v) {
		return v
	}
	return "VERSION"
}
