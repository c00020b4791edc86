//go:build !unix && !windows

package pki

import (
	"errors"
	"fmt"
)

// ErrNotImplemented is returned where this platform has no permission check.
var ErrNotImplemented = fmt.Errorf("pki: not implemented on this platform: %w", errors.ErrUnsupported)

// CheckPrivateDir is not implemented here: the hub refuses to run without it.
func CheckPrivateDir(string) error { return ErrNotImplemented }

// CheckPrivateFile is not implemented here: the hub refuses to run without it.
func CheckPrivateFile(string) error { return ErrNotImplemented }
