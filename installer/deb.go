package installer

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/carrel-kiosk/carrel/agent/service"
	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// Paths inside the .deb.
const (
	DebBinary   = "/usr/bin/carrel-agent"
	DebUnit     = "/lib/systemd/system/carrel-agent.service"
	DebDocDir   = "/usr/share/doc/carrel-agent"
	DebOverride = "/usr/share/lintian/overrides/carrel-agent"
)

// debScripts are the maintainer scripts. They follow what dh_installsystemd
// generates (deb-systemd-helper / deb-systemd-invoke), plus the preseed.
var debScripts = map[string]string{
	"postinst": `#!/bin/sh
# carrel-agent postinst: store the enrollment preseed, enable and (re)start the
# service. The service enrolls from {{.Preseed}} at start and retries until the
# hub answers; it erases the token once enrolled.
set -e

if [ "$1" = "configure" ]; then
	hub="${HUB_URL:-}"
	fp="${HUB_FINGERPRINT:-}"
	tok="${ENROLL_TOKEN:-}"
	if [ -z "$hub$fp$tok" ] && [ ! -e {{.Preseed}} ]; then
		hub={{sh .HubURL}}
		fp={{sh .HubFingerprint}}
		tok={{sh .EnrollToken}}
	fi
	if [ -n "$hub$fp$tok" ]; then
		mkdir -p {{.ConfigDir}}
		tmp=$(umask 077 && mktemp {{.ConfigDir}}/.enroll.env.XXXXXX)
		{
			echo "# Written by the carrel-agent package from HUB_URL, HUB_FINGERPRINT and ENROLL_TOKEN."
			[ -z "$hub" ] || printf 'HUB_URL=%s\n' "$hub"
			[ -z "$fp" ] || printf 'HUB_FINGERPRINT=%s\n' "$fp"
			[ -z "$tok" ] || printf 'ENROLL_TOKEN=%s\n' "$tok"
		} >"$tmp"
		mv -f "$tmp" {{.Preseed}}
	fi
	if [ -e {{.Preseed}} ]; then
		chown root:root {{.Preseed}}
		chmod 0600 {{.Preseed}}
	fi
fi

if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
	deb-systemd-helper unmask {{.Unit}} >/dev/null || true
	deb-systemd-helper enable {{.Unit}} >/dev/null || true
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke restart {{.Unit}} >/dev/null || true
	fi
fi
exit 0
`,
	"prerm": `#!/bin/sh
# carrel-agent prerm: stop the service before its files go (not on upgrade:
# postinst restarts it then), and remove what the agent put on the system.
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
	deb-systemd-invoke stop {{.Unit}} >/dev/null || true
fi
if [ "$1" = "remove" ]; then
	# Take away the browser policies the agent wrote: a PC without the agent
	# must not keep browsers locked down by nobody.
	carrel-agent uninstall --package >/dev/null 2>&1 || true
fi
exit 0
`,
	"postrm": `#!/bin/sh
# carrel-agent postrm: disable the unit; on purge remove the state (key,
# certificates, outbox, quarantined files) and the preseed.
set -e
if [ "$1" = "remove" ]; then
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
	fi
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper mask {{.Unit}} >/dev/null || true
	fi
fi
if [ "$1" = "purge" ]; then
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper purge {{.Unit}} >/dev/null || true
		deb-systemd-helper unmask {{.Unit}} >/dev/null || true
	fi
	rm -rf {{.StateDir}} {{.DataDir}}
	rm -f {{.Preseed}} {{.ConfigDir}}/.enroll.env.* {{.ConfigDir}}/.*.tmp-*
	rmdir {{.ConfigDir}} 2>/dev/null || true
	# The browser policy directories the agent created, if prerm's cleanup
	# left them empty (deepest first; a directory with other files stays).
	for d in {{.PolicyDirs}}; do
		rmdir "$d" 2>/dev/null || true
	done
fi
exit 0
`,
}

// debConffile is /etc/carrel/agent.toml as shipped: comments only, so every
// setting keeps its documented default. Enrollment adds hub_url at the top.
const debConffile = `# Carrel agent configuration.
# Every setting has a documented default (see the README and agent/config);
# uncomment and edit a line to change it, then: systemctl restart carrel-agent
# Enrollment writes hub_url here; the enrollment preseed is /etc/carrel/enroll.env.
#
# state_dir = "/var/lib/carrel-agent"
# status_interval = "30s"
# log_level = "info"
`

const debCopyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: carrel
Upstream-Contact: {{.Maintainer}}
Source: {{.Homepage}}

Files: *
Copyright: {{.Year}} {{.Vendor}}
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
`

const debChangelog = `carrel-agent ({{.Version}}-1) stable; urgency=medium

  * Carrel agent {{.Version}}.

 -- {{.Maintainer}}  {{.Date}}
`

// debOverrides are lintian tags that do not apply, each with its reason.
const debOverrides = `# The agent's documentation is its --help and the README; no manual page yet.
carrel-agent: no-manual-page [usr/bin/carrel-agent]
# Go builds a static PIE: there is no libc to link against.
carrel-agent: shared-library-lacks-prerequisites [usr/bin/carrel-agent]
# Not uploaded to Debian: there is no ITP bug to close.
carrel-agent: initial-upload-closes-no-bugs [usr/share/doc/carrel-agent/changelog.Debian.gz:1]
`

func render(name, text string, data any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"sh": shellQuote,
	}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// shellQuote quotes s for sh in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DebScripts renders the maintainer scripts (postinst, prerm, postrm).
func DebScripts(o Options) (map[string][]byte, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return debScriptsFor(o)
}

func debScriptsFor(o Options) (map[string][]byte, error) {
	p := service.LinuxPaths
	data := map[string]string{
		"Preseed":        p.Preseed,
		"Config":         p.Config,
		"ConfigDir":      filepath.Dir(p.Config),
		"StateDir":       p.StateDir,
		"DataDir":        p.DataDir,
		"PolicyDirs":     strings.Join(service.LinuxPolicyDirs, " "),
		"Unit":           service.Name + ".service",
		"HubURL":         o.HubURL,
		"HubFingerprint": o.HubFingerprint,
		"EnrollToken":    o.EnrollToken,
	}
	out := map[string][]byte{}
	for name, text := range debScripts {
		b, err := render(name, text, data)
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// DebUnitFile renders the systemd unit shipped in the .deb.
func DebUnitFile() (string, error) {
	return service.SystemdUnit(service.UnitOptions{Executable: DebBinary, Config: service.LinuxPaths.Config})
}

// debArch maps GOARCH to the Debian architecture.
var debArch = map[string]string{"amd64": "amd64", "arm64": "arm64"}

// BuildDeb builds carrel-agent_VERSION-1_ARCH.deb in o.OutDir and returns its path.
func BuildDeb(ctx context.Context, o Options) (string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "carrel-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	write := func(name string, data []byte, mode os.FileMode) (string, error) {
		p := filepath.Join(tmp, name)
		return p, os.WriteFile(p, data, mode)
	}
	scripts, err := debScriptsFor(o)
	if err != nil {
		return "", err
	}
	scriptPath := map[string]string{}
	for name, b := range scripts {
		p, err := write(name, b, 0o755)
		if err != nil {
			return "", err
		}
		scriptPath[name] = p
	}
	unit, err := DebUnitFile()
	if err != nil {
		return "", err
	}
	unitPath, err := write("carrel-agent.service", []byte(unit), 0o644)
	if err != nil {
		return "", err
	}
	confPath, err := write("agent.toml", []byte(debConffile), 0o644)
	if err != nil {
		return "", err
	}
	meta := map[string]string{
		"Maintainer": o.Maintainer, "Homepage": o.Homepage, "Vendor": o.Vendor,
		"Year": fmt.Sprint(o.Date.Year()), "Version": o.Version,
		"Date": o.Date.Format(time.RFC1123Z),
	}
	copyright, err := render("copyright", debCopyright, meta)
	if err != nil {
		return "", err
	}
	copyrightPath, err := write("copyright", copyright, 0o644)
	if err != nil {
		return "", err
	}
	changelog, err := render("changelog", debChangelog, meta)
	if err != nil {
		return "", err
	}
	gz, err := gzipBest(changelog)
	if err != nil {
		return "", err
	}
	changelogPath, err := write("changelog.Debian.gz", gz, 0o644)
	if err != nil {
		return "", err
	}
	overridePath, err := write("overrides", []byte(debOverrides), 0o644)
	if err != nil {
		return "", err
	}

	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: o.Date}
	}
	info := &nfpm.Info{
		Name:       service.Name,
		Arch:       debArch[o.Arch],
		Platform:   "linux",
		Version:    o.Version,
		Release:    "1",
		Section:    "admin",
		Priority:   "optional",
		Maintainer: o.Maintainer,
		Vendor:     o.Vendor,
		Homepage:   o.Homepage,
		License:    "Apache-2.0",
		MTime:      o.Date,
		Description: "locks down public PCs in libraries\n" +
			"The Carrel agent blocks untrusted downloads, wipes the patron's session\n" +
			"at logout, carries out staff commands and reports to the Carrel hub.",
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: o.AgentBinary, Destination: DebBinary, FileInfo: fi(0o755)},
				{Source: unitPath, Destination: DebUnit, FileInfo: fi(0o644)},
				{Source: confPath, Destination: service.LinuxPaths.Config, Type: files.TypeConfig, FileInfo: fi(0o644)},
				{Source: copyrightPath, Destination: DebDocDir + "/copyright", FileInfo: fi(0o644)},
				{Source: changelogPath, Destination: DebDocDir + "/changelog.Debian.gz", FileInfo: fi(0o644)},
				{Source: overridePath, Destination: DebOverride, FileInfo: fi(0o644)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: scriptPath["postinst"],
				PreRemove:   scriptPath["prerm"],
				PostRemove:  scriptPath["postrm"],
			},
		},
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("prepare deb: %w", err)
	}
	out := filepath.Join(o.OutDir, deb.Default.ConventionalFileName(info))
	f, err := atomicfile.New(out, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Cleanup()
	if err := deb.Default.Package(info, f); err != nil {
		return "", fmt.Errorf("build deb: %w", err)
	}
	if err := f.Commit(); err != nil {
		return "", err
	}
	o.Log.Info("Deb built", "path", out, "version", o.Version, "arch", info.Arch)
	return out, nil
}

// gzipBest compresses like gzip -9n: maximum compression, no name or time
// (lintian checks both).
func gzipBest(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// BuildPkg would build a macOS installer package. pkgbuild and productbuild
// exist only on macOS, so it is not implemented; on a Mac, IT runs
// `sudo carrel-agent install --hub URL --fingerprint F --token T`.
func BuildPkg(context.Context, Options) (string, error) {
	return "", fmt.Errorf("%w: macOS .pkg (pkgbuild runs only on macOS; use carrel-agent install)", ErrNotImplemented)
}
