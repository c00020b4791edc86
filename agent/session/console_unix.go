//go:build unix

package session

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// consoleSession returns the session of the user who owns the console device
// (macOS: /dev/console belongs to the user at the screen, root at the login
// window). root counts as nobody. It is built on every Unix so Linux CI tests it.
func consoleSession(path string) ([]Session, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat console: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil, nil
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	u, err := user.LookupId(uid)
	if err != nil {
		return nil, fmt.Errorf("look up console owner %s: %w", uid, err)
	}
	return []Session{{ID: "console", User: u.Username, UID: uid}}, nil
}
