package main

import "github.com/carrel-kiosk/carrel/internal/cli"

// Set at build time (cli.VersionLine says how).
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// versionLine is what --version prints after the program's name.
func versionLine() string { return cli.VersionLine(version, commit, date) }
