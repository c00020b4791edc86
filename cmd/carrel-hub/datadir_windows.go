//go:build windows

package main

import (
	"os"
	"path/filepath"
)

// defaultData is where the hub keeps its CA, keys and database on Windows.
var defaultData = filepath.Join(programData(), "carrel-hub")

func programData() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return d
	}
	return `C:\ProgramData`
}
