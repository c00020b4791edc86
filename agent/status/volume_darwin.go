//go:build darwin

package status

func systemVolume() (string, error) { return "/", nil }
