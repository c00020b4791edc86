// Package winetest holds what tests of the agent's Windows build need to run
// under Wine as well as on Windows. For tests only.
package winetest

import (
	"os"
	"runtime"
	"testing"
)

// TempDir is t.TempDir, except that under Wine, where os.RemoveAll fails with
// "Invalid function" (wine 8.0), a failed cleanup is logged, not failed.
func TempDir(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "windows" {
		return t.TempDir()
	}
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
