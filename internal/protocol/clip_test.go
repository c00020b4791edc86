package protocol

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven " + Ellipsis},
		{"héllo wörld", 8, "héll" + Ellipsis}, // é is 2 bytes: 5 bytes of text + 3
		{"日本語のテキスト", 8, "日" + Ellipsis},       // 3-byte runes: no half rune
		{"abc\xffdef", 20, "abc\uFFFDdef"},    // not UTF-8: replaced
		{"abcdef", 3, "abc"},                  // no room for the ellipsis
		{"日本語", 2, ""},                        // not even one rune fits
		{"abc", 0, ""},
	} {
		got := Clip(c.in, c.n)
		if got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		if !utf8.ValidString(got) || len(got) > max(c.n, 0) {
			t.Errorf("Clip(%q, %d) = %q: invalid or longer than %d", c.in, c.n, got, c.n)
		}
	}
}

func FuzzClip(f *testing.F) {
	f.Add("héllo wörld", 8)
	f.Add(strings.Repeat("日", 100), 10)
	f.Add("a\xff\xfeb", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 4096
		got := Clip(s, n)
		if !utf8.ValidString(got) || len(got) > max(n, 0) {
			t.Fatalf("Clip(%q, %d) = %q", s, n, got)
		}
		if v := strings.ToValidUTF8(s, "\uFFFD"); len(v) <= n && got != v {
			t.Fatalf("Clip(%q, %d) = %q, want it whole", s, n, got)
		}
	})
}
