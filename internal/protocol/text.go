package protocol

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text an agent sends reaches staff: names, versions and kinds are shown in the
// console and printed by `carrel-hub terminals`. Those short fields may hold no
// control character (a terminal escape sequence would run in the admin's
// terminal) and no format character (a right-to-left override makes
// "PC-\u202Eexe.txt" read as "PC-txt.exe"); Decode refuses them. Free text that
// must stay exact, such as a blocked file's name, is kept as sent and passed
// through Printable wherever a person reads it.

// unsafeRune reports whether r may not appear in a name: C0 and C1 controls,
// DEL, and the format characters (bidi embeddings, overrides and isolates, zero
// width characters, the BOM, invisible operators).
func unsafeRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError ||
		unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}

// firstUnsafe returns the first rune of s that may not appear in a name.
func firstUnsafe(s string) (rune, bool) {
	for _, r := range s {
		if unsafeRune(r) {
			return r, true
		}
	}
	return 0, false
}

// checkPlain is the short-field rule: valid UTF-8 (checked before) with no
// control or format character.
func checkPlain(t Type, field, v string) error {
	if r, bad := firstUnsafe(v); bad {
		return &FieldError{t, field, fmt.Sprintf("contains the control or format character %U", r)}
	}
	return nil
}

// Printable returns s as a person may safely read it: every control and format
// character, and every byte that is not UTF-8, is written as a visible escape
// (\x1b, \u202e), and a backslash is doubled so an escape cannot be forged. Plain
// text, any script and emoji included, comes back unchanged.
func Printable(s string) string {
	if _, bad := firstUnsafe(s); !bad && utf8.ValidString(s) && !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}
