//go:build !windows

package downloads

const absPath = "/home/patron/Downloads/setup.exe"
