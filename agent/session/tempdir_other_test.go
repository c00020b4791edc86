//go:build !windows

package session

import "testing"

func testTempDir(t testing.TB) string { return t.TempDir() }
