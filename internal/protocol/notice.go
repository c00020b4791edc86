package protocol

import (
	"path"
	"strings"
)

// The patron's notices (issue 16 §6): when the agent refuses something the
// patron just did, the patron's screen says so at once, in plain words and
// without blame, through the session helper. Which events tell the patron,
// and in what words, is decided here and nowhere else; staff see the event
// itself, unchanged.

// maxNoticeName bounds the file name quoted in a notice, in runes.
const maxNoticeName = 60

// PatronNotice returns what the patron is told about an event, and false for
// an event the patron is not told about. Names are made printable (a control
// or bidi character is shown as an escape) and clipped: the text is plain and
// fits protocol.MaxMessageText.
func PatronNotice(kind EventKind, data map[string]string) (string, bool) {
	switch kind {
	case EventDownloadBlocked:
		name := noticeName(data[DataName])
		if uncheckable(data[DataReason]) {
			return name + " was not kept: it could not be checked, and files that cannot be checked are not kept on library PCs. Ask staff if you need this file.", true
		}
		return name + " was not kept: programs cannot run on library PCs. Ask staff if you need this file.", true
	case EventExecBlocked, EventExecKilled:
		verb := " did not start"
		if kind == EventExecKilled {
			verb = " was closed" // it slipped past the block and was ended
		}
		p := strings.ReplaceAll(data[DataPath], `\`, "/")
		return noticeName(path.Base(p)) + verb + ": programs cannot run from your folders on library PCs. Ask staff if you need this program.", true
	}
	return "", false
}

// noticeName is a file name as a notice quotes it.
func noticeName(name string) string {
	name = Printable(strings.TrimSpace(name))
	if name == "" || name == "." || name == "/" {
		return "A file"
	}
	if r := []rune(name); len(r) > maxNoticeName {
		name = string(r[:maxNoticeName-3]) + "..."
	}
	return name
}

// uncheckable reports a block reason that says the file could not be judged
// (damaged, encrypted, a format that cannot be looked into), not that it is a
// program.
func uncheckable(reason string) bool {
	r := strings.ToLower(reason)
	for _, s := range []string{"cannot be checked", "cannot be inspected", "cannot inspect", "corrupt", "damaged", "encrypted", "could not be read", "truncated"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}
