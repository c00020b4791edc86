//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
)

// processIsHub reports whether pid is a live carrel-hub (its command name):
// a hub.json left by a stopped hub names a PID another program may have now.
func processIsHub(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(b)) == "carrel-hub"
}
