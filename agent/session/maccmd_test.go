package session

import (
	"slices"
	"testing"
)

// The macOS controller's command lines (run only on a Mac): staff text is one
// argv element after "--", never AppleScript source; names and uids that a tool
// could read as options, or root's, are refused.
func TestMacCommandLines(t *testing.T) {
	hostile := `"; do shell script "rm -rf ~" --`
	args, err := macMessageArgs("501", hostile)
	if err != nil {
		t.Fatal(err)
	}
	if args[len(args)-1] != hostile || args[len(args)-2] != "--" {
		t.Fatalf("the text is not the last, separate argument: %q", args)
	}
	for _, a := range args[:len(args)-1] {
		if a == hostile {
			t.Fatalf("text appears twice: %q", args)
		}
	}
	if !slices.Contains(args, "#501") || args[0] != "/bin/launchctl" || args[2] != "501" {
		t.Fatalf("not run as uid 501: %q", args)
	}
	for _, uid := range []string{"0", "", "-1", "501 ", "x", "4294967296"} {
		if _, err := macMessageArgs(uid, "hi"); err == nil {
			t.Errorf("uid %q accepted", uid)
		}
	}

	on, err := macHoldArgs("patron1", true)
	if err != nil || !slices.Equal(on, []string{"/usr/bin/pwpolicy", "-u", "patron1", "-disableuser"}) {
		t.Fatalf("hold: %q %v", on, err)
	}
	off, err := macHoldArgs("patron1", false)
	if err != nil || off[3] != "-enableuser" {
		t.Fatalf("release: %q %v", off, err)
	}
	for _, name := range []string{"", "-disableuser", "a b", "a;b", "pätron", string(make([]byte, 256))} {
		if _, err := macHoldArgs(name, true); err == nil {
			t.Errorf("account %q accepted", name)
		}
	}
}
