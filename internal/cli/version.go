package cli

import (
	"runtime/debug"
	"strings"
)

// VersionLine is what a program's --version prints after its name: the
// version, the commit and the build date. A program sets the three with
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.date=$(date -u +%FT%TZ)"
//
// and without them the commit and date come from what the go command stamped
// into the binary (vcs.revision and vcs.time, in a git checkout).
func VersionLine(version, commit, date string) string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(version, commit, date, info)
}

func formatVersion(version, commit, date string, info *debug.BuildInfo) string {
	modified := false
	if info != nil {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	b.WriteString(version)
	b.WriteString(", commit ")
	if commit == "" {
		b.WriteString("unknown")
	} else {
		b.WriteString(commit[:min(len(commit), 12)])
		if modified {
			b.WriteString(" (with local changes)")
		}
	}
	b.WriteString(", built ")
	if date == "" {
		date = "at an unknown date"
	}
	b.WriteString(date)
	return b.String()
}
