package execguard

import (
	"path/filepath"
	"strings"
)

func baseName(p string) string {
	return filepath.Base(strings.TrimSuffix(p, " (deleted)"))
}
