//go:build linux

package session

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/nspawn"
	"golang.org/x/sys/unix"
)

// helperProc is the helper running inside the container.
type helperProc struct {
	t     *testing.T
	c     *nspawn.Container
	pid   int        // the helper's pid inside the container, from its ready line
	log   *lockedLog // its stderr
	stdin io.WriteCloser
	lines chan helperLine
	seen  []helperLine // every line read so far
	// pending are lines read but not yet matched by expect: a state line may
	// arrive before the result of the command that caused it.
	pending []helperLine
	exit    chan error
}

func startHelper(t *testing.T, ctx context.Context, c *nspawn.Container, env ...string) *helperProc {
	t.Helper()
	cmd := c.Command(ctx, "/usr/local/bin/session.test", "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "CARREL_PATRONS=patron1", "CARREL_STAFF=staff1", "CARREL_GROUP=patrons",
		"CARREL_STATE=/var/lib/carrel-test")
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedLog{t: t}
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second // pipes held by the helper must not hang Wait
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{t: t, c: c, log: stderr, stdin: stdin, lines: make(chan helperLine, 256), exit: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l helperLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("helper printed %q: %v", sc.Text(), err)
				continue
			}
			h.lines <- l
		}
		close(h.lines)
		h.exit <- cmd.Wait()
	}()
	t.Cleanup(func() { h.stop() })
	return h
}

// lockedLog passes the helper's log to t under -v and keeps its tail for failures.
type lockedLog struct {
	t    *testing.T
	mu   sync.Mutex // guards tail
	tail []byte
}

func (l *lockedLog) Write(p []byte) (int, error) {
	if testing.Verbose() {
		l.t.Logf("helper: %s", strings.TrimSpace(string(p)))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, p...)
	if len(l.tail) > 64<<10 {
		l.tail = l.tail[len(l.tail)-64<<10:]
	}
	return len(p), nil
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.tail)
}

// expect returns the first unmatched line that matches, reading more lines
// until one does, or fails after 30 s.
func (h *helperProc) expect(what string, match func(helperLine) bool) helperLine {
	h.t.Helper()
	if i := slices.IndexFunc(h.pending, match); i >= 0 {
		l := h.pending[i]
		h.pending = slices.Delete(h.pending, i, i+1)
		return l
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("helper exited while waiting for %s; saw %+v", what, h.seen)
			}
			h.seen = append(h.seen, l)
			if l.T == "ready" {
				h.pid = l.PID
			}
			if match(l) {
				return l
			}
			h.pending = append(h.pending, l)
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; saw %+v\nhelper log:\n%s", what, h.seen, h.log)
		}
	}
}

func (h *helperProc) command(action protocol.Action, args map[string]string) helperLine {
	h.t.Helper()
	b, _ := json.Marshal(helperCommand{Action: action, Args: args})
	if _, err := h.stdin.Write(append(b, '\n')); err != nil {
		h.t.Fatal(err)
	}
	return h.expect("result of "+string(action), func(l helperLine) bool { return l.T == "result" })
}

func (h *helperProc) stop() {
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	deadline := time.After(30 * time.Second)
	for {
		select {
		case _, ok := <-h.lines:
			if ok {
				continue
			}
			if err := <-h.exit; err != nil {
				h.t.Errorf("helper exit: %v\nhelper log:\n%s", err, h.log)
			}
			return
		case <-deadline:
			// Ask the stuck helper (a process this test started) for its goroutines.
			if h.pid > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				h.c.Exec(ctx, "kill", "-QUIT", fmt.Sprint(h.pid))
				cancel()
			}
			select {
			case err := <-h.exit:
				h.t.Errorf("helper did not exit on end of input (%v)\nhelper log:\n%s", err, h.log)
			case <-time.After(10 * time.Second):
				h.t.Errorf("helper did not exit on end of input\nhelper log:\n%s", h.log)
			}
			return
		}
	}
}

func isEvent(kind protocol.EventKind) func(helperLine) bool {
	return func(l helperLine) bool { return l.T == "event" && l.Kind == string(kind) }
}

func isState(st protocol.SessionState) func(helperLine) bool {
	return func(l helperLine) bool { return (l.T == "state" || l.T == "ready") && l.State == string(st) }
}

// sessionOf waits until logind lists a session of user on tty and returns its id.
func sessionOf(t *testing.T, ctx context.Context, c *nspawn.Container, user, tty string) string {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := c.Exec(ctx, "loginctl", "list-sessions", "--no-legend")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			// SESSION UID USER [SEAT] TTY
			f := strings.Fields(line)
			if len(f) >= 4 && f[2] == user && f[len(f)-1] == tty {
				return f[0]
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no logind session of %s on %s; loginctl lists:\n%s", user, tty, out)
		case <-tick.C:
		}
	}
}

func shadowExpiry(t *testing.T, c *nspawn.Container, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Root(), "etc/shadow"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 9 && f[0] == name {
			return f[7]
		}
	}
	t.Fatalf("%s not in the container's shadow", name)
	return ""
}

// How startSession returns.
const (
	untilRunning = iota // the unit runs its command as the user
	untilExit           // the unit has ended (systemd-run --wait)
	atOnce              // as soon as systemd-run started the unit
)

func startSession(t *testing.T, ctx context.Context, c *nspawn.Container, unit, user, pts string, until int) error {
	t.Helper()
	wait := until == untilExit
	args := []string{"systemd-run", "--unit=" + unit, "-p", "PAMName=login", "-p", "User=" + user,
		"-p", "TTYPath=/dev/" + pts, "-p", "UtmpIdentifier=" + pts, "-p", "UtmpMode=user"}
	if wait {
		args = append(args, "--wait", "--quiet")
	}
	if _, err := c.Exec(ctx, append(args, "/bin/sleep", "300")...); err != nil || until != untilRunning {
		return err
	}
	// Wait until PAM setup is over and the unit runs sleep: a session ended while
	// pam_systemd still waits for the user manager leaves a process stuck before
	// exec, with no logout in utmp.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out, _ := c.Exec(ctx, "sh", "-c", "cat /proc/$(systemctl show -P MainPID "+unit+")/comm")
		if strings.TrimSpace(string(out)) == "sleep" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never ran sleep: %w", unit, ctx.Err())
		case <-tick.C:
		}
	}
}

// TestLogindInContainer runs the real Manager with the real logind watcher and
// the real Linux controller inside a booted systemd container, against real PAM
// sessions of users made in that container.
func TestLogindInContainer(t *testing.T) {
	// Nothing here needs the network; a private one keeps services the host has
	// installed (a database) from fighting other test containers for ports.
	c := nspawn.BootWith(t, nspawn.Options{PrivateNetwork: true})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	for _, cmd := range [][]string{
		{"useradd", "-m", "patron1"},
		{"useradd", "-m", "staff1"},
		{"groupadd", "patrons"},
		{"useradd", "-m", "-G", "patrons", "guest1"}, // a patron by group only
	} {
		if _, err := c.Exec(ctx, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Exec(ctx, "mkdir", "-m", "0700", "/var/lib/carrel-test"); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CopyIn(self, "/usr/local/bin/session.test", 0o755); err != nil {
		t.Fatal(err)
	}

	h := startHelper(t, ctx, c)
	h.expect("ready and free", isState(protocol.SessionFree))

	// A staff session first, then a patron session.
	if err := startSession(t, ctx, c, "staff-sess", "staff1", "pts/4", untilRunning); err != nil {
		t.Fatal(err)
	}
	staffID := sessionOf(t, ctx, c, "staff1", "pts/4")
	// The patron's session gets a real terminal of the container's devpts, whose
	// master side this test holds, so the message command can be read back.
	master, pts := openPTYIn(t, filepath.Join(c.Root(), "dev/pts/ptmx"))
	slave, err := os.OpenFile(filepath.Join(c.Root(), "dev", pts), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if err := startSession(t, ctx, c, "patron-sess", "patron1", pts, untilRunning); err != nil {
		t.Fatal(err)
	}
	patronID := sessionOf(t, ctx, c, "patron1", pts)
	started := h.expect("session.started", isEvent(protocol.EventSessionStarted))
	if started.Data["session"] != patronID {
		t.Fatalf("first session.started is for session %q; the patron's is %s, the staff's %s", started.Data["session"], patronID, staffID)
	}
	h.expect("in-use", isState(protocol.SessionInUse))

	// message: logind's TTY for the session, written by the real controller.
	if res := h.command(protocol.ActionMessage, map[string]string{"text": "The library closes in 10 minutes."}); res.Error != "" || res.Output != "shown in 1 session(s)" {
		t.Fatalf("message: %+v", res)
	}
	readTerminal(t, master, "The library closes in 10 minutes.")

	// end-session against the real session: logind removes it, the wipe follows.
	res := h.command(protocol.ActionEndSession, map[string]string{"session": staffID})
	if res.Error == "" {
		t.Fatalf("end-session of the staff session accepted: %+v", res)
	}
	res = h.command(protocol.ActionEndSession, nil)
	if res.Error != "" {
		t.Fatalf("end-session: %s", res.Error)
	}
	ended := h.expect("session.ended", isEvent(protocol.EventSessionEnded))
	if ended.Data["session"] != patronID {
		t.Fatalf("session.ended for %q, want %s", ended.Data["session"], patronID)
	}
	if w := h.expect("wipe", func(l helperLine) bool { return l.T == "wipe" }); w.User != "patron1" {
		t.Fatalf("wiped %q", w.User)
	}
	h.expect("free after the wipe", isState(protocol.SessionFree))
	list, err := c.Exec(ctx, "loginctl", "list-sessions", "--no-legend")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(list), "staff1") || strings.Contains(string(list), "patron1") {
		t.Fatalf("after end-session loginctl lists:\n%s", list)
	}

	// Lock: the patron account is expired, staff untouched; a new patron logon is refused by PAM.
	if res := h.command(protocol.ActionLock, nil); res.Error != "" {
		t.Fatalf("lock: %s", res.Error)
	}
	h.expect("locked", isState(protocol.SessionLocked))
	if got := shadowExpiry(t, c, "patron1"); got != "1" {
		t.Fatalf("patron1 expiry while locked = %q, want 1", got)
	}
	if got := shadowExpiry(t, c, "staff1"); got != "" {
		t.Fatalf("staff1 expiry = %q, want none", got)
	}
	// --wait returns when the unit ends: at once if PAM refused it (exit 224,
	// EXIT_PAM), after the timeout if the session started.
	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	err = startSession(t, rctx, c, "patron-refused", "patron1", "pts/6", untilExit)
	rcancel()
	if err == nil || !strings.Contains(err.Error(), "exit status 224") {
		t.Fatalf("patron logon on a locked seat: %v; want refused by PAM (exit status 224)", err)
	}
	if list, _ := c.Exec(ctx, "loginctl", "list-sessions", "--no-legend"); strings.Contains(string(list), "patron1") {
		t.Fatalf("a patron session exists while locked:\n%s", list)
	}

	// The lock survives a restart of the agent.
	h.stop()
	h = startHelper(t, ctx, c)
	h.expect("ready and still locked", isState(protocol.SessionLocked))

	// The backstop: when the account hold is missing (here: the controller's
	// HoldLogons is disabled and the expiry cleared by hand), a patron session
	// that starts on a locked seat is ended by the Manager.
	h.stop()
	h = startHelper(t, ctx, c, "CARREL_NO_HOLD=1")
	h.expect("ready and locked without the hold", isState(protocol.SessionLocked))
	if _, err := c.Exec(ctx, "usermod", "--expiredate", "", "patron1"); err != nil {
		t.Fatal(err)
	}
	if err := startSession(t, ctx, c, "patron-backstop", "patron1", "pts/8", atOnce); err != nil {
		t.Fatal(err)
	}
	refused := h.expect("session.refused", isEvent(protocol.EventSessionRefused))
	if refused.Data["reason"] != "locked" {
		t.Fatalf("refused %+v", refused)
	}
	waitGone := time.NewTicker(20 * time.Millisecond)
	for {
		list, err := c.Exec(ctx, "loginctl", "list-sessions", "--no-legend")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(list), "patron1") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("refused session %s still listed:\n%s", refused.Data["session"], list)
		case <-waitGone.C:
		}
	}
	waitGone.Stop()
	h.expect("session.ended of the refused session", isEvent(protocol.EventSessionEnded))
	h.expect("wipe after the refused session", func(l helperLine) bool { return l.T == "wipe" })

	// Unlock: the next patron logon works and is reported.
	if res := h.command(protocol.ActionUnlock, nil); res.Error != "" {
		t.Fatalf("unlock: %s", res.Error)
	}
	h.expect("free after unlock", isState(protocol.SessionFree))
	if got := shadowExpiry(t, c, "patron1"); got != "" {
		t.Fatalf("patron1 expiry after unlock = %q, want none", got)
	}
	if err := startSession(t, ctx, c, "patron-sess2", "patron1", "pts/7", untilRunning); err != nil {
		t.Fatal(err)
	}
	second := sessionOf(t, ctx, c, "patron1", "pts/7")
	if got := h.expect("second session.started", isEvent(protocol.EventSessionStarted)); got.Data["session"] != second {
		t.Fatalf("session.started for %q, want %s", got.Data["session"], second)
	}
	// The utmp fallback, reading the container's real utmp from the host, sees
	// the same session open and then closed (by systemd's DEAD_PROCESS record,
	// or by its process being gone when systemd does not write one).
	uw := newUtmpWatcher(filepath.Join(c.Root(), "run/utmp"), 100*time.Millisecond, testLogger(t))
	uw.procDir = filepath.Join(c.Root(), "proc") // the container's pid namespace
	utmpEvents := runWatcher(t, uw)
	var utmpSeen bool
	for ev := nextEvent(t, utmpEvents, "utmp list"); ev.Kind != 0; ev = nextEvent(t, utmpEvents, "utmp list") {
		if ev.Session.ID == "tty:pts/7" && ev.Session.User == "patron1" {
			utmpSeen = true
		}
	}
	if !utmpSeen {
		t.Fatal("utmp watcher did not see patron1 on pts/7")
	}

	// A logout is seen by both watchers.
	if _, err := c.Exec(ctx, "loginctl", "terminate-session", second); err != nil {
		t.Fatal(err)
	}
	h.expect("second session.ended", isEvent(protocol.EventSessionEnded))
	h.expect("second wipe", func(l helperLine) bool { return l.T == "wipe" })
	utmpTimeout := time.After(15 * time.Second)
	for loggedOff := false; !loggedOff; {
		select {
		case ev := <-utmpEvents:
			loggedOff = ev.Kind == Logoff && ev.Session.ID == "tty:pts/7"
		case <-utmpTimeout:
			b, err := os.ReadFile(filepath.Join(c.Root(), "run/utmp"))
			recs, perr := parseUtmp(b)
			var diag []string
			for _, r := range recs {
				if r.Type == utmpUserProcess {
					st, _ := os.ReadFile(filepath.Join(c.Root(), "proc", fmt.Sprint(r.PID), "status"))
					diag = append(diag, fmt.Sprintf("pid %d: %.200q", r.PID, st))
				}
			}
			units, _ := c.Exec(ctx, "sh", "-c", "systemctl list-jobs --no-pager; journalctl -b --no-pager | tail -60")
			t.Fatalf("utmp watcher saw no logoff of pts/7; the file (%v, %v) holds %+v\n%s\n%s", err, perr, recs, strings.Join(diag, "\n"), units)
		}
	}

	// A patron by group membership only (a real group in the container).
	if err := startSession(t, ctx, c, "guest-sess", "guest1", "pts/9", untilRunning); err != nil {
		t.Fatal(err)
	}
	guestID := sessionOf(t, ctx, c, "guest1", "pts/9")
	if got := h.expect("guest session.started", isEvent(protocol.EventSessionStarted)); got.Data["session"] != guestID {
		t.Fatalf("session.started for %q, want guest1's %s", got.Data["session"], guestID)
	}
	if res := h.command(protocol.ActionWipeNow, nil); !strings.Contains(res.Error, "end it first") {
		t.Fatalf("wipe-now with a patron on: %+v", res)
	}
	if res := h.command(protocol.ActionEndSession, map[string]string{"session": guestID}); res.Error != "" {
		t.Fatalf("end-session: %+v", res)
	}
	if w := h.expect("guest wipe", func(l helperLine) bool { return l.T == "wipe" }); w.User != "guest1" {
		t.Fatalf("wiped %q, want guest1", w.User)
	}
	h.expect("free after the guest's wipe", isState(protocol.SessionFree))

	// wipe-now: never a staff account; with no patron on, every patron seen.
	if res := h.command(protocol.ActionWipeNow, map[string]string{"user": "staff1"}); !strings.Contains(res.Error, "not a patron account") {
		t.Fatalf("wipe-now of staff1: %+v", res)
	}
	if res := h.command(protocol.ActionWipeNow, nil); res.Error != "" || !strings.HasPrefix(res.Output, "wiped 2 account(s): clean") {
		t.Fatalf("wipe-now: %+v", res)
	}
	if res := h.command(protocol.ActionReboot, nil); res.Error != "" {
		t.Fatalf("reboot: %+v", res)
	}
	h.expect("reboot through Power", func(l helperLine) bool { return l.T == "power" && l.Kind == "reboot" })
	h.stop()

	// Nothing was ever reported or wiped for the staff account.
	for _, l := range h.seen {
		if l.Data["session"] == staffID || (l.T == "wipe" && l.User == "staff1") {
			t.Fatalf("staff session reported: %+v", l)
		}
	}
}
