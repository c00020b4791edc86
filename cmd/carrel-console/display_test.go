//go:build cgo || ci

package main

import (
	"strings"
	"testing"
)

// TestNeedDisplay: without an X or Wayland display the console says so in one
// line instead of Fyne's stack trace; with one, or on Windows and macOS, it
// goes on.
func TestNeedDisplay(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if err := needDisplay("linux", env(nil)); err == nil || !strings.Contains(err.Error(), "no display") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("linux without a display: %v", err)
	}
	for _, c := range []struct {
		goos string
		env  map[string]string
	}{{"linux", map[string]string{"DISPLAY": ":0"}}, {"linux", map[string]string{"WAYLAND_DISPLAY": "wayland-0"}}, {"windows", nil}, {"darwin", nil}} {
		if err := needDisplay(c.goos, env(c.env)); err != nil {
			t.Errorf("%s %v: %v", c.goos, c.env, err)
		}
	}
}
