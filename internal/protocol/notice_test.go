package protocol

import (
	"strings"
	"testing"
	"unicode"
)

func TestPatronNotice(t *testing.T) {
	for _, c := range []struct {
		kind EventKind
		data map[string]string
		want string
		ok   bool
	}{
		{EventDownloadBlocked, DownloadBlocked{Name: "invoice.exe", Reason: "dangerous extension .exe (Windows program)"}.Data(),
			"invoice.exe was not kept: programs cannot run on library PCs. Ask staff if you need this file.", true},
		{EventDownloadBlocked, DownloadBlocked{Name: "photos.zip", Reason: "corrupt zip archive"}.Data(),
			"photos.zip was not kept: it could not be checked, and files that cannot be checked are not kept on library PCs. Ask staff if you need this file.", true},
		{EventDownloadBlocked, DownloadBlocked{Name: "report\u202Efdp.exe", Reason: "bidirectional control character"}.Data(),
			`report\u202efdp.exe was not kept: programs cannot run on library PCs. Ask staff if you need this file.`, true},
		{EventExecBlocked, map[string]string{DataPath: `C:\Users\p\Downloads\setup.exe`},
			"setup.exe did not start: programs cannot run from your folders on library PCs. Ask staff if you need this program.", true},
		{EventExecKilled, map[string]string{DataPath: `C:\Users\p\Desktop\game.exe`, DataPID: "42"},
			"game.exe was closed: programs cannot run from your folders on library PCs. Ask staff if you need this program.", true},
		{EventExecBlocked, map[string]string{DataPath: "/home/p/Downloads/tool"},
			"tool did not start: programs cannot run from your folders on library PCs. Ask staff if you need this program.", true},
		{EventDownloadBlocked, map[string]string{}, "A file was not kept: programs cannot run on library PCs. Ask staff if you need this file.", true},
		{EventDownloadNoExec, map[string]string{DataName: "a.txt"}, "", false},
		{EventSessionLocked, nil, "", false},
	} {
		got, ok := PatronNotice(c.kind, c.data)
		if got != c.want || ok != c.ok {
			t.Errorf("PatronNotice(%s, %v) = %q, %v; want %q, %v", c.kind, c.data, got, ok, c.want, c.ok)
		}
	}
	long, _ := PatronNotice(EventDownloadBlocked, map[string]string{DataName: strings.Repeat("\x1b[2J", 200) + ".exe"})
	if len(long) > MaxMessageText || strings.ContainsFunc(long, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		t.Errorf("notice for a hostile long name: %q (%d bytes)", long, len(long))
	}
}
