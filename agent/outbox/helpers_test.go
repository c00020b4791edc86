package outbox

import (
	"os"
	"testing"
)

// tempDir is t.TempDir that tolerates a failing cleanup: under Wine os.RemoveAll
// fails with "Invalid function", which would fail every test.
func tempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "carrel-outbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
