package protocol

import (
	"strings"
	"unicode/utf8"
)

// Ellipsis ends a string that Clip cut.
const Ellipsis = "…"

// Clip fits s into at most n bytes of valid UTF-8, for a field with a wire
// limit (MaxText, MaxShortString) or a line in a log or an error: bytes that
// are not UTF-8 become U+FFFD, and a string that is too long is cut on a rune
// boundary and ends in Ellipsis, which counts in the n (unless n is too small
// to hold it). It is the one clip for agent text; it does not make text safe
// to print (Printable escapes control characters) and does not fold lines.
func Clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	end := ""
	if n > len(Ellipsis) {
		end = Ellipsis
		n -= len(Ellipsis)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + end
}
