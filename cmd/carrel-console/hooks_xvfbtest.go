//go:build xvfbtest

package main

import (
	"flag"
	"os"
	"sync"

	"github.com/carrel-kiosk/carrel/console/ui"
)

// testHooks, in the real-window test build only, adds --test-state-file: the
// console appends each state it reaches ("login", "room", "terminals:N",
// "detail:ID") as a line, so the test can wait on what the window shows.
func testHooks(fs *flag.FlagSet) func(*ui.Options) {
	path := fs.String("test-state-file", "", "append UI states to this file (test build only)")
	return func(o *ui.Options) {
		if *path == "" {
			return
		}
		var mu sync.Mutex
		o.OnState = func(s string) {
			mu.Lock()
			defer mu.Unlock()
			f, err := os.OpenFile(*path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return
			}
			f.WriteString(s + "\n")
			f.Close()
		}
	}
}
