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
