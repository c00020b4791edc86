//go:build linux

package session

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeAtomic replaces path the way a careful writer would, so the poller
// never sees half a file.
func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// runWatcher runs w and returns its events on a channel.
func runWatcher(t *testing.T, w Watcher) <-chan Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 64)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(ev Event) { events <- ev }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("watcher Run = %v, want nil after cancel", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("watcher did not stop")
		}
	})
	return events
}

func nextEvent(t *testing.T, events <-chan Event, what string) Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return Event{}
	}
}

func TestUtmpWatcherSyntheticFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "utmp")
	boot := utmpRecord{Type: utmpBootTime, Line: "~", ID: "~~", User: "reboot", Time: utmpT0}
	already := utmpRecord{Type: utmpUserProcess, PID: 40, Line: "tty1", ID: "tty1", User: "staff1", Time: utmpT0}
	writeAtomic(t, path, utmpFile(boot, already))

	w := newUtmpWatcher(path, 100*time.Millisecond, testLogger(t))
	w.procDir = t.TempDir() // the live pids of this fake pid namespace
	for _, pid := range []string{"40", "70", "90"} {
		if err := os.Mkdir(filepath.Join(w.procDir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	polls := make(chan struct{}, 1)
	w.polled = func() {
		select {
		case polls <- struct{}{}:
		default:
		}
	}
	events := runWatcher(t, w)
	if ev := nextEvent(t, events, "initial logon"); ev.Kind != Logon || !ev.Initial || ev.Session.ID != "tty:tty1" || ev.Session.User != "staff1" {
		t.Fatalf("initial event %+v", ev)
	}
	if ev := nextEvent(t, events, "end of list"); ev.Kind != 0 {
		t.Fatalf("want end of initial list, got %+v", ev)
	}

	user := utmpRecord{Type: utmpUserProcess, PID: 70, Line: "pts/5", ID: "ts/5", User: "patron1", Time: utmpT0.Add(time.Minute)}
	writeAtomic(t, path, utmpFile(boot, already, user))
	ev := nextEvent(t, events, "logon")
	if ev.Kind != Logon || ev.Initial || ev.Session.ID != "tty:pts/5" || ev.Session.User != "patron1" || !ev.Session.Since.Equal(user.Time) {
		t.Fatalf("logon event %+v", ev)
	}

	// A torn write keeps the last good view: no logoff.
	writeAtomic(t, path, utmpFile(boot, already, user)[:500])
	recv(t, polls, "poll")
	recv(t, polls, "poll") // the second poll surely read the torn file
	select {
	case ev := <-events:
		t.Fatalf("event %+v after a torn write", ev)
	default:
	}
	// The same line reused by another login is a logoff then a logon.
	again := user
	again.PID, again.User = 90, "patron2"
	dead := utmpRecord{Type: utmpDeadProcess, PID: 40, Line: "tty1", ID: "tty1", Time: utmpT0}
	writeAtomic(t, path, utmpFile(boot, dead, again))
	var got []string
	for len(got) < 3 {
		ev := nextEvent(t, events, "changes")
		got = append(got, fmt.Sprintf("%s %s %s", ev.Kind, ev.Session.ID, ev.Session.User))
	}
	want := map[string]bool{"logoff tty:tty1 staff1": true, "logoff tty:pts/5 patron1": true, "logon tty:pts/5 patron2": true}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("events %q, want %v", got, want)
		}
	}
	if got[2] != "logon tty:pts/5 patron2" {
		t.Fatalf("logon reported before the logoffs: %q", got)
	}

	// The session's process dies and nobody writes DEAD_PROCESS: a logoff.
	if err := os.Remove(filepath.Join(w.procDir, "90")); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events, "logoff"); ev.Kind != Logoff || ev.Session.User != "patron2" {
		t.Fatalf("event %+v", ev)
	}
	// A new login on the same line, then the file disappears: nobody is logged on.
	again.PID, again.User = 40, "patron1"
	writeAtomic(t, path, utmpFile(boot, again))
	if ev := nextEvent(t, events, "logon"); ev.Kind != Logon || ev.Session.User != "patron1" {
		t.Fatalf("event %+v", ev)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events, "logoff"); ev.Kind != Logoff || ev.Session.User != "patron1" {
		t.Fatalf("event %+v", ev)
	}
}

// openPTY returns a pseudo-terminal's master and the slave's name ("pts/N").
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	return openPTYIn(t, "/dev/ptmx")
}

// openPTYIn allocates a pseudo-terminal from the devpts instance whose ptmx is
// at ptmx (a container's, through /proc/PID/root, gives one inside it).
func openPTYIn(t *testing.T, ptmx string) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile(ptmx, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, fmt.Sprintf("pts/%d", n)
}

func TestMessageToTerminal(t *testing.T) {
	master, pts := openPTY(t)
	// Keep the slave open so the master reads what is written to it.
	slave, err := os.OpenFile("/dev/"+pts, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	ctl := NewController(testLogger(t))
	s := Session{ID: "3", User: "patron1", TTY: pts, Type: "tty"}
	if err := ctl.Message(context.Background(), s, "Closing in 5 minutes\nPlease save your work."); err != nil {
		t.Fatal(err)
	}
	got := readTerminal(t, master, "Please save your work.")
	if !strings.Contains(got, "*** Message from library staff ***") || !strings.Contains(got, "Closing in 5 minutes\r") {
		t.Fatalf("terminal got %q", got)
	}

	for _, bad := range []string{"../etc/passwd", "pts/1/../../sda", "console", ""} {
		s.TTY = bad
		if err := ctl.Message(context.Background(), s, "hi"); err == nil {
			t.Errorf("message to terminal %q accepted", bad)
		}
	}
}

func TestLogindWatcherWithoutBus(t *testing.T) {
	// No system bus at this address: the Linux watcher falls back to utmp.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	if err := NewLogindWatcher(testLogger(t)).Run(context.Background(), func(Event) {}); err == nil {
		t.Fatal("logind watcher ran without a bus")
	}
	path := filepath.Join(t.TempDir(), "utmp")
	writeAtomic(t, path, utmpFile(utmpRecord{Type: utmpUserProcess, PID: int32(os.Getpid()), Line: "tty2", ID: "tty2", User: "patron1", Time: utmpT0}))
	cfg := DefaultConfig()
	cfg.UtmpPath = path
	cfg.PollInterval = Duration(100 * time.Millisecond)
	events := runWatcher(t, NewWatcher(cfg, testLogger(t)))
	if ev := nextEvent(t, events, "initial logon from utmp"); ev.Kind != Logon || ev.Session.ID != "tty:tty2" {
		t.Fatalf("event %+v", ev)
	}
}

// readTerminal reads a pty master until want shows up, for at most 10 s.
func readTerminal(t *testing.T, master *os.File, want string) string {
	t.Helper()
	var buf bytes.Buffer
	b := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(buf.String(), want) {
		n, err := master.Read(b)
		if err != nil {
			t.Fatalf("read terminal: %v (got %q)", err, buf.String())
		}
		buf.Write(b[:n])
	}
	return buf.String()
}
