package cli

import (
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	vcs := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-07T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		version, commit, date string
		info                  *debug.BuildInfo
		want                  string
	}{
		{"1.2.3", "fedcba9876543210", "2026-12-01T00:00:00Z", vcs, "1.2.3, commit fedcba987654 (with local changes), built 2026-12-01T00:00:00Z"},
		{"dev", "", "", vcs, "dev, commit 0123456789ab (with local changes), built 2026-12-07T10:00:00Z"},
		{"dev", "", "", &debug.BuildInfo{}, "dev, commit unknown, built at an unknown date"},
		{"dev", "abc", "", nil, "dev, commit abc, built at an unknown date"},
	} {
		if got := formatVersion(c.version, c.commit, c.date, c.info); got != c.want {
			t.Errorf("formatVersion(%q, %q, %q) = %q, want %q", c.version, c.commit, c.date, got, c.want)
		}
	}
}
