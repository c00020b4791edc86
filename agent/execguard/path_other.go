//go:build !windows

package execguard

// normPath is the identity where paths are case-sensitive.
func normPath(p string) string { return p }
