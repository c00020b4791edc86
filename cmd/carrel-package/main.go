// Command carrel-package builds the packages IT deploys carrel-agent with: a
// Windows MSI (wixl) and a Debian package (nfpm). It only parses flags; the work
// is in package installer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/carrel-kiosk/carrel/installer"
)

const usageText = `carrel-package builds an installer package for carrel-agent.

Usage:
  carrel-package msi --agent carrel-agent.exe --version 1.2.3 --out DIR [--sign-cert C --sign-key K]
  carrel-package deb --agent carrel-agent --version 1.2.3 --out DIR [--arch amd64|arm64]

Build the agent first, for the target:
  GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=1.2.3" -o carrel-agent.exe ./cmd/carrel-agent
  GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -buildmode=pie -trimpath -ldflags="-s -w -X main.version=1.2.3" -o carrel-agent ./cmd/carrel-agent

The MSI needs wixl (apt-get install wixl), signing needs osslsigncode.
The hub's enrollment lines (console, Enrollment) name these files for the hub's
version and give the three values, with the hub's public name (serve --name):
  msiexec /i carrel-agent-1.2.3-x64.msi /qn HUB_URL=wss://hub:8443 HUB_FINGERPRINT=... ENROLL_TOKEN=...
  HUB_URL=wss://hub:8443 HUB_FINGERPRINT=... ENROLL_TOKEN=... dpkg -i carrel-agent_1.2.3-1_amd64.deb

Options:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("carrel-package", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o installer.Options
	fs.StringVar(&o.AgentBinary, "agent", "", "carrel-agent binary built for the target (required)")
	fs.StringVar(&o.Version, "version", "", "version, MAJOR.MINOR.PATCH (required)")
	fs.StringVar(&o.OutDir, "out", "", "output directory (required)")
	fs.StringVar(&o.Arch, "arch", "amd64", "target architecture: amd64, or arm64 (deb only)")
	fs.StringVar(&o.SignCert, "sign-cert", "", "Authenticode certificate, PEM (msi only)")
	fs.StringVar(&o.SignKey, "sign-key", "", "Authenticode private key, PEM (msi only)")
	fs.StringVar(&o.SignTimestampURL, "sign-timestamp", "", "RFC 3161 timestamp server URL (msi only)")
	fs.StringVar(&o.HubURL, "hub", "", "default HUB_URL baked into the package (usually given at install time)")
	fs.StringVar(&o.HubFingerprint, "fingerprint", "", "default HUB_FINGERPRINT baked into the package")
	fs.StringVar(&o.EnrollToken, "token", "", "default ENROLL_TOKEN baked into the package, for GPO assignment which cannot pass properties;\nthe package file then holds a secret: give the token a short --ttl and --uses of the PC count")
	fs.StringVar(&o.Maintainer, "maintainer", "", `maintainer, "Name <email>"`)
	fs.StringVar(&o.Vendor, "vendor", "", "vendor / MSI manufacturer (default Carrel)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, usageText)
		fs.PrintDefaults()
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	format := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "carrel-package: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	var (
		path string
		err  error
	)
	switch format {
	case "msi":
		path, err = installer.BuildMSI(ctx, o)
	case "deb":
		path, err = installer.BuildDeb(ctx, o)
	case "pkg":
		path, err = installer.BuildPkg(ctx, o)
	default:
		fmt.Fprintf(stderr, "carrel-package: unknown format %q: want msi or deb\n", format)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "carrel-package:", err)
		if errors.Is(err, installer.ErrOptions) {
			return 2
		}
		return 1
	}
	fmt.Fprintln(stdout, path)
	return 0
}
