//go:build !windows

package execguard

import "testing"

func TestRootSet(t *testing.T) {
	s := newRootSet([]string{"/home/alice", "/tmp/", "/var/tmp", "relative", "/tmp"})
	for path, want := range map[string]bool{
		"/home/alice/Downloads/x": true,
		"/home/alice/x":           true,
		"/home/alice":             false, // the root itself is a directory, never an executable
		"/home/alicex/y":          false,
		"/home/bob/x":             false,
		"/tmp/a":                  true,
		"/tmpx/a":                 false,
		"/usr/bin/true":           false,
		"/var/tmp/a/b/c":          true,
		"/home/alice/../bob/x":    false,
		"relative/x":              false,
	} {
		if got := s.contains(path); got != want {
			t.Errorf("contains(%q) = %v, want %v", path, got, want)
		}
	}
	if len(s.roots) != 3 {
		t.Errorf("roots %v, want 3 (duplicates and relative dropped)", s.roots)
	}
}
