package overlay

import (
	"strings"
	"time"
	"unicode/utf8"
)

// What the helper shows, the same on every OS.

// The texts the helper draws. Staff messages are drawn below them, as text.
const (
	LockNotice     = "This computer is locked by library staff."
	countdownText  = "This session ends in %d s. Save your work."
	messageTitle   = "Message from library staff"
	messageHint    = "Click or press Enter to close."
	maxMessageRows = 16
	noticeTitle    = "A note from the library"
	noticeHint     = "Click to close."
	// noticeWindowName names the notice window (X11 WM_NAME, the Win32
	// window title).
	noticeWindowName = "Carrel notice"
	noticeCols       = 48 // a notice wraps to this many columns
	maxNoticeRows    = 6
)

// NoticeShowFor is how long a notice stays on screen when the patron does
// not close it.
const NoticeShowFor = 10 * time.Second

// noticeLines wraps a notice for the corner window.
func noticeLines(text string) []string {
	out := messageLines(text, noticeCols)
	if len(out) > maxNoticeRows {
		out = append(out[:maxNoticeRows-1], "...")
	}
	return out
}

// Colours as 8-bit RGB (0xRRGGBB).
const (
	lockBG   = 0x1b2a41 // dark blue: the lock screen
	stripBG  = 0x8b1a1a // dark red: the countdown strip
	textFG   = 0xffffff
	boxBG    = 0xf2f2f2 // the message box
	boxFG    = 0x000000
	boxFrame = 0x1b2a41
)

// messageLines wraps the message to cols columns, at most maxMessageRows rows.
func messageLines(msg string, cols int) []string {
	cols = max(cols, 10)
	var out []string
	for _, para := range strings.Split(msg, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			for utf8.RuneCountInString(word) > cols { // a word longer than a row
				r := []rune(word)
				if line != "" {
					out, line = append(out, line), ""
				}
				out, word = append(out, string(r[:cols])), string(r[cols:])
			}
			switch {
			case line == "":
				line = word
			case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= cols:
				line += " " + word
			default:
				out, line = append(out, line), word
			}
		}
		out = append(out, line)
	}
	if len(out) > maxMessageRows {
		out = append(out[:maxMessageRows-1], "...")
	}
	return out
}
