package downloads

import (
	"os"
	"strings"
)

func startsDotDot(rel string) bool {
	return rel == ".." || strings.HasPrefix(rel, ".."+string(os.PathSeparator))
}

func countSep(s string) int {
	return strings.Count(s, string(os.PathSeparator))
}

// isPlainDir reports whether p is a directory and not a link to one.
func isPlainDir(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}
