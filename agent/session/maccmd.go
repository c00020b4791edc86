package session

import (
	"fmt"
	"strconv"
)

// The macOS controller's command lines, built here (no build tag) so that the
// argument checks and the quoting are tested on every OS; control_darwin.go
// runs them. Staff text is always its own argv element: osascript reads it as
// `item 1 of argv`, never as AppleScript source.

// macAccount refuses names a tool would read as an option or that are not a
// plain local account name.
func macAccount(name string) error {
	if name == "" || len(name) > 255 || name[0] == '-' {
		return fmt.Errorf("bad account name %q", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("bad account name %q", name)
		}
	}
	return nil
}

// macUID accepts a patron's numeric uid (never root's).
func macUID(uid string) error {
	n, err := strconv.ParseUint(uid, 10, 32)
	if err != nil || n == 0 {
		return fmt.Errorf("bad uid %q", uid)
	}
	return nil
}

// macHoldArgs disables (hold) or re-enables a local account: the login window
// and every other logon path then refuse it; the flag lives in the directory
// service and survives a restart.
func macHoldArgs(name string, hold bool) ([]string, error) {
	if err := macAccount(name); err != nil {
		return nil, err
	}
	op := "-enableuser"
	if hold {
		op = "-disableuser"
	}
	return []string{"/usr/bin/pwpolicy", "-u", name, op}, nil
}

// macMessageArgs shows text in the user's GUI session as a dialog that gives up
// after five minutes, run as that user in its bootstrap namespace.
func macMessageArgs(uid, text string) ([]string, error) {
	if err := macUID(uid); err != nil {
		return nil, err
	}
	return []string{"/bin/launchctl", "asuser", uid, "/usr/bin/sudo", "-n", "-u", "#" + uid, "--",
		"/usr/bin/osascript",
		"-e", "on run argv",
		"-e", `display dialog (item 1 of argv) with title "Library staff" buttons {"OK"} default button 1 giving up after 300`,
		"-e", "end run",
		"--", text}, nil
}
