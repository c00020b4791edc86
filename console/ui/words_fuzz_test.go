package ui

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// rawRune reports whether s holds what a label must never show raw: a control
// or format character, a line or paragraph separator, or bytes that are not
// UTF-8.
func rawRune(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return r != '\n' && (unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r))
	})
}

// Whatever an agent puts in an event or the hub in an audit row, the sentence
// and the raw record a label shows hold no raw control or format character.
func FuzzSentencesArePrintable(f *testing.F) {
	f.Add(string(protocol.EventDownloadBlocked), "name", "\x1b]0;pwned\x07invoice\u202eexe.txt", "staff:ann\x1b[2J", `{"action":"lock","user":"\u202e"}`)
	f.Add(string(protocol.EventExecBlocked), "path", `C:\Users\x\‮exe.scr`, "enroll:\xff", "not json \x00")
	f.Add("weird.kind\u2028", "why", "\xc3", "hub", `{"count":"5\u0085"}`)
	f.Fuzz(func(t *testing.T, kind, key, value, actor, detail string) {
		e := protocol.EventView{Terminal: value, Kind: protocol.EventKind(kind), Severity: protocol.Severity(value),
			Data: map[string]string{key: value, protocol.DataName: value, protocol.DataReason: value, protocol.DataQuarantine: value}}
		a := protocol.AuditView{Actor: actor, Action: protocol.AuditAction(kind), Terminal: value, Detail: detail, Result: value}
		pc := shown(value)
		for _, s := range []string{eventSentence(e, pc), eventLine(e, ""), rawEvent(e, pc), auditSentence(a, pc), rawAudit(a, pc)} {
			if rawRune(s) {
				t.Fatalf("raw text reaches a label: %q", s)
			}
		}
		// Without a PC name the sentence starts with a capital, and an unknown
		// kind (a newer agent's) is shown whole after its first letter.
		if k := shown(kind); !protocol.EventKind(kind).Known() {
			_, n := utf8.DecodeRuneInString(k)
			if s := eventSentence(protocol.EventView{Kind: protocol.EventKind(kind)}, ""); !strings.HasSuffix(s, k[n:]) {
				t.Fatalf("unknown kind %q shown as %q", kind, s)
			}
		}
		for _, k := range protocol.AuditActions {
			a.Action = k
			if s := auditSentence(a, pc); rawRune(s) {
				t.Fatalf("%s: raw text reaches a label: %q", k, s)
			}
		}
		for _, k := range protocol.EventKinds {
			e.Kind = k
			if s := eventSentence(e, pc); rawRune(s) {
				t.Fatalf("%s: raw text reaches a label: %q", k, s)
			}
		}
	})
}
