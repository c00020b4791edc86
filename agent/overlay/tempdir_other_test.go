//go:build !windows

package overlay

import "testing"

func testTempDir(t testing.TB) string { return t.TempDir() }
