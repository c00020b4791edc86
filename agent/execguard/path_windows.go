//go:build windows

package execguard

import "strings"

// normPath folds case: Windows paths are case-insensitive.
func normPath(p string) string { return strings.ToLower(p) }
