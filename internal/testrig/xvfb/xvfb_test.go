package xvfb

import (
	"net"
	"strings"
	"testing"
)

// Start gives a display whose socket accepts connections.
func TestStart(t *testing.T) {
	d := Start(t, "320x200x24")
	c, err := net.Dial("unix", "/tmp/.X11-unix/X"+strings.TrimPrefix(d, ":"))
	if err != nil {
		t.Fatalf("display %s: %v", d, err)
	}
	c.Close()
}
