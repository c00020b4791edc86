//go:build linux

package status

func systemVolume() (string, error) { return "/", nil }
