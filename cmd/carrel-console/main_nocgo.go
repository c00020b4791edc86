//go:build !cgo && !ci

package main

import (
	"fmt"
	"os"
)

// main of a build without cgo: the console draws with OpenGL through GLFW,
// which needs cgo, so this build only explains how to get a working one.
func main() {
	fmt.Fprintln(os.Stderr, "carrel-console: this binary was built without cgo and has no window; "+
		"build it with CGO_ENABLED=1 (and the OpenGL/X11 development packages)")
	os.Exit(1)
}
