//go:build windows

package session

import (
	"os"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// testTempDir is t.TempDir, except that under Wine, where os.RemoveAll fails
// with "Invalid function" (wine 8.0), a failed cleanup is logged, not failed.
func testTempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "carrel-session-")
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

func underWine() bool {
	k, err := registry.OpenKey(windows.HKEY_CURRENT_USER, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}
