package installer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/agent/service"
)

// Options drive every package format. Zero values take the documented defaults.
type Options struct {
	// Version is the agent version, MAJOR.MINOR.PATCH (numbers only: the MSI
	// ProductVersion allows nothing else and MajorUpgrade compares it). Required.
	Version string
	// Arch is the GOARCH of AgentBinary: "amd64" (default) or "arm64" (.deb only).
	Arch string
	// AgentBinary is carrel-agent built for the target OS and Arch. Required.
	// For the .deb build it with -buildmode=pie -trimpath -ldflags="-s -w".
	AgentBinary string
	// OutDir receives the package; created if missing. Required.
	OutDir string

	// HubURL, HubFingerprint and EnrollToken are preseed defaults baked into the
	// package (MSI: default values of the public properties; .deb: used by
	// postinst when neither the environment nor /etc/carrel/enroll.env has
	// them). Usually left empty and given at install time. A baked token is a
	// secret inside the package file: give it a short TTL.
	HubURL, HubFingerprint, EnrollToken string

	// SignCert and SignKey are PEM files of an Authenticode certificate and its
	// key; when set, the MSI is signed with osslsigncode. Both or neither.
	SignCert, SignKey string
	// SignTimestampURL is an RFC 3161 timestamp server; empty means no timestamp.
	SignTimestampURL string

	// Maintainer is "Name <email>" (Debian Maintainer; default
	// "Carrel maintainers <maintainers@carrel.invalid>").
	Maintainer string
	// Vendor is the MSI Manufacturer and .deb Vendor; default "Carrel".
	Vendor string
	// Homepage; default https://github.com/carrel-kiosk/carrel.
	Homepage string
	// Date stamps the package (changelog, file times) so builds are
	// reproducible; zero means SOURCE_DATE_EPOCH or now.
	Date time.Time

	// Log receives progress; nil discards.
	Log *slog.Logger
}

// Errors of Options validation; test with errors.Is.
var (
	ErrOptions        = errors.New("invalid package options")
	ErrNotImplemented = fmt.Errorf("not implemented: %w", errors.ErrUnsupported)
	// ErrToolMissing: an external tool (wixl, msitools, osslsigncode) is not on PATH.
	ErrToolMissing = errors.New("tool not found")
)

var versionRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})$`)

// withDefaults returns a copy with defaults filled in, or an error naming the
// first bad field.
func (o Options) withDefaults() (Options, error) {
	bad := func(format string, a ...any) (Options, error) {
		return Options{}, fmt.Errorf("%w: %s", ErrOptions, fmt.Sprintf(format, a...))
	}
	o.Version = strings.TrimPrefix(o.Version, "v")
	if !versionRE.MatchString(o.Version) {
		return bad("version %q: want MAJOR.MINOR.PATCH, numbers only", o.Version)
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return bad("arch %q: want amd64 or arm64", o.Arch)
	}
	if o.AgentBinary == "" {
		return bad("agent binary is required")
	}
	if fi, err := os.Stat(o.AgentBinary); err != nil {
		return bad("agent binary: %v", err)
	} else if !fi.Mode().IsRegular() {
		return bad("agent binary %s is not a regular file", o.AgentBinary)
	}
	if o.OutDir == "" {
		return bad("output directory is required")
	}
	p := service.Preseed{HubURL: o.HubURL, HubFingerprint: o.HubFingerprint, EnrollToken: o.EnrollToken}
	if err := p.Validate(); err != nil {
		return bad("%v", err)
	}
	if (o.SignCert == "") != (o.SignKey == "") {
		return bad("signing needs both a certificate and a key")
	}
	if o.Maintainer == "" {
		o.Maintainer = "Carrel maintainers <maintainers@carrel.invalid>"
	}
	if !strings.Contains(o.Maintainer, "<") || !strings.HasSuffix(o.Maintainer, ">") {
		return bad("maintainer %q: want \"Name <email>\"", o.Maintainer)
	}
	if o.Vendor == "" {
		o.Vendor = "Carrel"
	}
	if o.Homepage == "" {
		o.Homepage = "https://github.com/carrel-kiosk/carrel"
	}
	if o.Date.IsZero() {
		o.Date = time.Now()
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			var sec int64
			if _, err := fmt.Sscan(s, &sec); err == nil {
				o.Date = time.Unix(sec, 0)
			}
		}
	}
	o.Date = o.Date.UTC().Truncate(time.Second)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// Values are escaped for XML in the WiX source, but a line break would
	// start a new field in the Debian control file.
	for _, f := range []struct{ name, v string }{{"maintainer", o.Maintainer}, {"vendor", o.Vendor}, {"homepage", o.Homepage}} {
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return bad("%s %q contains a line break or control character", f.name, f.v)
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return bad("output directory: %v", err)
	}
	return o, nil
}
