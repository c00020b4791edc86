//go:build linux

package overlay

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FindXAuthority finds the X authority file of a graphical session the way
// tools that reach into another user's display do: it reads XAUTHORITY from the
// environment of the session's processes (/proc/PID/environ). It looks first at
// leader (logind's session leader, if > 0), then at the processes of uid that
// belong to the session (their cgroup is session-ID.scope) and have DISPLAY set
// to display, then at any process of uid with that DISPLAY. It returns "" when
// none says. procDir is /proc, or a stand-in in tests.
//
// What it returns comes from the patron's own processes: it is only ever handed
// to a helper that runs as that patron, never opened by the service.
func FindXAuthority(procDir string, uid uint32, session, display string, leader int) string {
	if a := xauthOf(procDir, leader, uid, display, true); a != "" {
		return a
	}
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return ""
	}
	scope := "/session-" + session + ".scope"
	var fallback string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || pid == leader {
			continue
		}
		a := xauthOf(procDir, pid, uid, display, false)
		if a == "" {
			continue
		}
		cg, _ := os.ReadFile(filepath.Join(procDir, e.Name(), "cgroup"))
		if session != "" && bytes.Contains(cg, []byte(scope)) {
			return a
		}
		if fallback == "" {
			fallback = a
		}
	}
	return fallback
}

// xauthOf returns XAUTHORITY from pid's environment if pid belongs to uid and
// (unless anyDisplay) its DISPLAY is display.
func xauthOf(procDir string, pid int, uid uint32, display string, anyDisplay bool) string {
	if pid <= 0 {
		return ""
	}
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	fi, err := os.Stat(dir)
	if err != nil {
		return ""
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != uid {
		return ""
	}
	env, err := readLimited(filepath.Join(dir, "environ"), 256<<10)
	if err != nil {
		return ""
	}
	var auth, disp string
	for _, kv := range bytes.Split(env, []byte{0}) {
		switch {
		case bytes.HasPrefix(kv, []byte("XAUTHORITY=")):
			auth = string(kv[len("XAUTHORITY="):])
		case bytes.HasPrefix(kv, []byte("DISPLAY=")):
			disp = string(kv[len("DISPLAY="):])
		}
	}
	if !anyDisplay && !sameDisplay(disp, display) {
		return ""
	}
	if auth != "" && disp != "" && !sameDisplay(disp, display) {
		return "" // the leader's environment is for another display
	}
	if !validAuthPath(auth) {
		return ""
	}
	return auth
}

// sameDisplay compares ":0" with ":0.0" and "unix:0" as one display.
func sameDisplay(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(s, "unix")
		if i := strings.LastIndexByte(s, '.'); i > 0 && !strings.Contains(s[i:], ":") {
			s = s[:i]
		}
		return s
	}
	return a != "" && norm(a) == norm(b)
}

func readLimited(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := f.Read(b)
	if m == 0 && err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// environ can need more than one read; keep reading up to n.
	for m < len(b) {
		k, err := f.Read(b[m:])
		m += k
		if err != nil || k == 0 {
			break
		}
	}
	return b[:m], nil
}
