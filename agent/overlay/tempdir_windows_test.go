//go:build windows

package overlay

import (
	"os"
	"testing"

	"golang.org/x/sys/windows/registry"
)

// testTempDir is t.TempDir, except that under Wine, where os.RemoveAll fails
// with "Invalid function" (wine 8.0), a failed cleanup is logged, not failed.
func testTempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "carrel-overlay-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			if underWine() {
				t.Logf("cleanup under Wine: %v", err)
				return
			}
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}

// underWine reports whether this runs under Wine.
func underWine() bool {
	k, err := registry.OpenKey(registry.CURRENT_USER, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}
