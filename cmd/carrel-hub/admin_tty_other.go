//go:build !linux && !darwin && !windows

package main

import (
	"errors"
	"os"
)

func isTerminal(*os.File) bool { return false }

func readNoEcho(*os.File) (string, error) {
	return "", errors.New("no password prompt on this system: use --password-stdin")
}
