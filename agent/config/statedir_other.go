//go:build !linux && !windows && !darwin

package config

import "io/fs"

func ensureStateDir(string) error { return ErrNotImplemented }

func checkPrivate(string, string, fs.FileInfo) error { return ErrNotImplemented }
