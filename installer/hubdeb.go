package installer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/carrel-kiosk/carrel/internal/hubservice"
)

// Paths inside the hub's .deb.
const (
	HubDebBinary   = "/usr/bin/carrel-hub"
	HubDebUnit     = "/lib/systemd/system/carrel-hub.service"
	HubDebDocDir   = "/usr/share/doc/carrel-hub"
	HubDebOverride = "/usr/share/lintian/overrides/carrel-hub"
)

// HubOptions drive the hub's .deb. Zero values take the defaults of Options.
type HubOptions struct {
	// Version is the hub version, MAJOR.MINOR.PATCH. Required.
	Version string
	// Arch is the GOARCH of HubBinary: "amd64" (default) or "arm64".
	Arch string
	// HubBinary is carrel-hub built for linux/Arch, as releases are
	// (-buildmode=pie -trimpath -ldflags="-s -w"). Required.
	HubBinary string
	// OutDir receives the package; created if missing. Required.
	OutDir string
	// Maintainer, Vendor, Homepage and Date: as in Options.
	Maintainer, Vendor, Homepage string
	Date                         time.Time
	// Log receives progress; nil discards.
	Log *slog.Logger
}

// options checks o and returns the Options its shared fields are validated
// and defaulted as.
func (o HubOptions) options() (Options, error) {
	if o.HubBinary == "" {
		return Options{}, fmt.Errorf("%w: hub binary is required", ErrOptions)
	}
	return Options{Version: o.Version, Arch: o.Arch, AgentBinary: o.HubBinary, OutDir: o.OutDir,
		Maintainer: o.Maintainer, Vendor: o.Vendor, Homepage: o.Homepage, Date: o.Date, Log: o.Log}.withDefaults()
}

// hubDebScripts are the hub's maintainer scripts, after dh_installsystemd's
// and adduser's conventions: the user and the data directory are made at
// configure and kept on remove (the CA and database are the library's);
// purge removes both.
var hubDebScripts = map[string]string{
	"postinst": `#!/bin/sh
# carrel-hub postinst: make the carrel-hub system user and its data directory
# (0700), then enable and (re)start the service.
set -e
if [ "$1" = "configure" ]; then
	if ! getent passwd {{.User}} >/dev/null; then
		adduser --system --group --quiet --home {{.DataDir}} --no-create-home \
			--gecos "Carrel hub" {{.User}}
	fi
	mkdir -p {{.DataDir}}
	chown {{.User}}:{{.User}} {{.DataDir}}
	chmod 0700 {{.DataDir}}
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
# carrel-hub prerm: stop the service before its files go (not on upgrade:
# postinst restarts it, and the new version migrates the database at start).
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
	deb-systemd-invoke stop {{.Unit}} >/dev/null || true
fi
exit 0
`,
	"postrm": `#!/bin/sh
# carrel-hub postrm: disable the unit; on purge delete the data directory (the
# CA, keys and database: every PC would have to enroll again) and the user.
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
	rm -rf {{.DataDir}}
	if getent passwd {{.User}} >/dev/null && command -v deluser >/dev/null; then
		deluser --system --quiet {{.User}} || true
	fi
	if getent group {{.User}} >/dev/null && command -v delgroup >/dev/null; then
		delgroup --system --quiet {{.User}} || true
	fi
fi
exit 0
`,
}

// hubDebDefaults is /etc/default/carrel-hub as shipped: the unit adds
// CARREL_HUB_OPTS to its command line.
const hubDebDefaults = `# Options for carrel-hub serve, read by the carrel-hub service.
# Set the name (or names, comma-separated; the first is the certificate's)
# that the library's PCs use to reach this hub, and the port, then:
#   systemctl restart carrel-hub
# The data directory is /var/lib/carrel-hub; carrel-hub serve --help lists
# every option.
#CARREL_HUB_OPTS="--name hub.library.example --listen :8443"
`

const hubDebChangelog = `carrel-hub ({{.Version}}-1) stable; urgency=medium

  * Carrel hub {{.Version}}.

 -- {{.Maintainer}}  {{.Date}}
`

// hubDebOverrides are lintian tags that do not apply, each with its reason.
const hubDebOverrides = `# The hub's documentation is its --help and the README; no manual page yet.
carrel-hub: no-manual-page [usr/bin/carrel-hub]
# Not uploaded to Debian: there is no ITP bug to close.
carrel-hub: initial-upload-closes-no-bugs [usr/share/doc/carrel-hub/changelog.Debian.gz:1]
`

// HubDebUnitFile renders the systemd unit shipped in the hub's .deb.
func HubDebUnitFile() (string, error) {
	return hubservice.SystemdUnit(hubservice.UnitOptions{Executable: HubDebBinary, DataDir: hubservice.LinuxDataDir, User: hubservice.User})
}

// HubDebScripts renders the hub's maintainer scripts.
func HubDebScripts() (map[string][]byte, error) {
	data := map[string]string{"User": hubservice.User, "DataDir": hubservice.LinuxDataDir, "Unit": hubservice.Name + ".service"}
	out := map[string][]byte{}
	for name, text := range hubDebScripts {
		b, err := render(name, text, data)
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// BuildHubDeb builds carrel-hub_VERSION-1_ARCH.deb in o.OutDir and returns its path.
func BuildHubDeb(ctx context.Context, ho HubOptions) (string, error) {
	o, err := ho.options()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "carrel-hub-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	write := func(name string, data []byte, mode os.FileMode) (string, error) {
		p := filepath.Join(tmp, name)
		return p, os.WriteFile(p, data, mode)
	}
	scripts, err := HubDebScripts()
	if err != nil {
		return "", err
	}
	scriptPath := map[string]string{}
	for name, b := range scripts {
		if scriptPath[name], err = write(name, b, 0o755); err != nil {
			return "", err
		}
	}
	unit, err := HubDebUnitFile()
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
	changelog, err := render("changelog", hubDebChangelog, meta)
	if err != nil {
		return "", err
	}
	gz, err := gzipBest(changelog)
	if err != nil {
		return "", err
	}
	fi := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: o.Date}
	}
	contents := files.Contents{{Source: o.AgentBinary, Destination: HubDebBinary, FileInfo: fi(0o755)}}
	for _, f := range []struct {
		name, dst string
		data      []byte
		typ       string
	}{
		{"carrel-hub.service", HubDebUnit, []byte(unit), ""},
		{"default", hubservice.LinuxEnvFile, []byte(hubDebDefaults), files.TypeConfig},
		{"copyright", HubDebDocDir + "/copyright", copyright, ""},
		{"changelog.Debian.gz", HubDebDocDir + "/changelog.Debian.gz", gz, ""},
		{"overrides", HubDebOverride, []byte(hubDebOverrides), ""},
	} {
		p, err := write(f.name, f.data, 0o644)
		if err != nil {
			return "", err
		}
		contents = append(contents, &files.Content{Source: p, Destination: f.dst, Type: f.typ, FileInfo: fi(0o644)})
	}
	info := &nfpm.Info{
		Name:       hubservice.Name,
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
		Description: "server for the Carrel public-PC agents and staff consoles\n" +
			"The Carrel hub enrolls the library's public PCs, keeps their events and\n" +
			"the staff audit log, and relays staff commands from the console.",
		Overridables: nfpm.Overridables{
			Depends:  []string{"adduser"},
			Contents: contents,
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
	f, err := os.Create(out + ".partial")
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("build deb: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return "", err
	}
	o.Log.Info("Hub deb built", "path", out, "version", o.Version, "arch", info.Arch)
	return out, nil
}
