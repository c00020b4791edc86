// Package winetest holds what tests of the agent's Windows build need to run
// under Wine as well as on Windows. For tests only.
package winetest

import (
	"os"
	"testing"
)

// TempDir is a private (0700) directory removed when the test ends; a failed
// removal fails the test, except under Wine, where os.RemoveAll fails with
// "Invalid function" (wine 8.0) and it is only logged.
func TempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "carrel-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			if Under() {
				t.Logf("cleanup under Wine: %v", err)
				return
			}
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}
