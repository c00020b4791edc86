//go:build linux

package service

// DefaultPaths is the layout on this OS.
func DefaultPaths() Paths { return LinuxPaths }
