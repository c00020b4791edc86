package service

import "strings"

// quotedCommandLine returns cmd with its executable path quoted, and whether
// it changed anything. The executable is the shortest prefix ending in ".exe"
// (case-insensitive) followed by the end or a space; a command line that
// already starts with a quote, or names no .exe, is left alone.
func quotedCommandLine(cmd string) (string, bool) {
	if strings.HasPrefix(cmd, `"`) {
		return cmd, false
	}
	lower := strings.ToLower(cmd)
	end := -1
	for i := 0; ; {
		j := strings.Index(lower[i:], ".exe")
		if j < 0 {
			break
		}
		k := i + j + len(".exe")
		if k == len(cmd) || cmd[k] == ' ' {
			end = k
			break
		}
		i = k
	}
	if end < 0 || !strings.Contains(cmd[:end], " ") {
		return cmd, false
	}
	return `"` + cmd[:end] + `"` + cmd[end:], true
}
