package execguard

import (
	"bytes"
	"path/filepath"
	"sort"
	"strings"
)

// rootSet is an immutable set of directory trees, matched by path prefix
// without allocating: it sits on the exec decision path.
type rootSet struct {
	prefixes [][]byte // each root, normalised, with a trailing separator
	roots    []string
}

func newRootSet(roots []string) *rootSet {
	s := &rootSet{}
	seen := map[string]bool{}
	for _, r := range roots {
		r = filepath.Clean(r)
		if !filepath.IsAbs(r) || seen[r] {
			continue
		}
		seen[r] = true
		s.roots = append(s.roots, r)
		p := normPath(r)
		if !strings.HasSuffix(p, string(filepath.Separator)) {
			p += string(filepath.Separator)
		}
		s.prefixes = append(s.prefixes, []byte(p))
	}
	sort.Strings(s.roots)
	return s
}

// containsBytes reports whether path (already normalised, see normInPlace)
// lies strictly below one of the roots.
func (s *rootSet) containsBytes(path []byte) bool {
	for _, p := range s.prefixes {
		if len(path) > len(p) && bytes.Equal(path[:len(p)], p) {
			return true
		}
	}
	return false
}

// contains reports whether path lies below one of the roots.
func (s *rootSet) contains(path string) bool {
	return s.containsBytes([]byte(normPath(filepath.Clean(path))))
}

func (s *rootSet) equal(o *rootSet) bool {
	if o == nil || len(s.roots) != len(o.roots) {
		return false
	}
	for i := range s.roots {
		if s.roots[i] != o.roots[i] {
			return false
		}
	}
	return true
}
