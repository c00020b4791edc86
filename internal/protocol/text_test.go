package protocol

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestShortFieldsRefuseControlAndFormat(t *testing.T) {
	for _, name := range []string{
		"pc-01\x1b]0;owned\x07", // window-title escape
		"pc-01\x1b[2J",          // screen clear
		"PC-\u202Eexe.txt",      // right-to-left override
		"pc\u2066-01\u2069",     // bidi isolate
		"pc\u200b01",            // zero width space
		"pc\u0085",              // C1 NEL
		"pc\x7f",                // DEL
		"pc\r\n-02",             // a forged second line
		"pc\u2028x",             // line separator
		"\ufeffpc",              // BOM
	} {
		st := validStatus()
		st.Hostname = name
		err := st.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "hostname" || !strings.Contains(fe.Reason, "control or format") {
			t.Errorf("hostname %q: %v, want a hostname field error", name, err)
		}
	}
	for _, name := range []string{"pc-01", "Salle de lecture 3", "読書室-2", "pc 🙂", "Łódź-PC"} {
		st := validStatus()
		st.Hostname = name
		if err := st.Validate(); err != nil {
			t.Errorf("plain hostname %q refused: %v", name, err)
		}
	}
	ev := Event{Seq: 1, Time: validStatus().BootTime, Kind: "download.blocked\x1b[31m", Severity: SeverityInfo}
	if err := ev.Validate(); err == nil {
		t.Error("event kind with an escape accepted")
	}
	// File names in event data stay exact: they are escaped where shown.
	ev = Event{Seq: 1, Time: validStatus().BootTime, Kind: EventDownloadBlocked, Severity: SeverityAlert,
		Data: map[string]string{DataName: "invoice\u202Efdp.exe"}}
	if err := ev.Validate(); err != nil {
		t.Errorf("event data with a bidi file name refused: %v", err)
	}
}

func TestPrintable(t *testing.T) {
	cases := map[string]string{
		"pc-01":            "pc-01",
		"読書室 🙂":            "読書室 🙂",
		"a\x1b[2Jb":        `a\x1b[2Jb`,
		"PC-\u202Eexe.txt": `PC-\u202eexe.txt`,
		"x\\u202e":         `x\\u202e`,
		"bad\xffutf8":      `bad\xffutf8`,
		"tab\there":        `tab\x09here`,
		"line\nbreak":      `line\x0abreak`,
		"zwj\u200d":        `zwj\u200d`,
	}
	for in, want := range cases {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPrintable: whatever an agent sends, what a person is shown has no control
// or format character, is valid UTF-8, and plain text is left alone.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"pc-01", "a\x1b[2J", "PC-\u202Eexe.txt", "\xff\xfe", `\x1b`, "読書室"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := Printable(s)
		if !utf8.ValidString(p) {
			t.Fatalf("Printable(%q) = %q is not UTF-8", s, p)
		}
		for _, r := range p {
			if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("Printable(%q) = %q keeps %U", s, p, r)
			}
		}
		if _, bad := firstUnsafe(s); !bad && utf8.ValidString(s) && !strings.Contains(s, `\`) && p != s {
			t.Fatalf("plain %q changed to %q", s, p)
		}
		// Decoding the same string as a hostname agrees with Printable.
		st := Status{Hostname: s, OS: "linux", AgentVersion: "1", Session: SessionFree}
		if err := st.Validate(); err == nil && len(s) > 0 && p != s && !strings.Contains(s, `\`) {
			t.Fatalf("hostname %q accepted but not plain (shown as %q)", s, p)
		}
	})
}
