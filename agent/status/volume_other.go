//go:build !linux && !windows && !darwin

package status

func systemVolume() (string, error) { return "", ErrNotImplemented }
