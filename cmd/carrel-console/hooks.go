//go:build !xvfbtest

package main

import (
	"flag"

	"github.com/carrel-kiosk/carrel/console/ui"
)

// testHooks adds nothing outside the real-window test build.
func testHooks(*flag.FlagSet) func(*ui.Options) { return func(*ui.Options) {} }
