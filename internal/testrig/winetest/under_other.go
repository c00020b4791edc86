//go:build !windows

package winetest

// Under is false off Windows.
func Under() bool { return false }
