//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/nspawn"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// The accounts made in the container. other1 is neither patron nor staff: its
// home and temp files are canaries.
const (
	wipePatron = "patron1"
	wipeStaff  = "staff1"
	wipeOther  = "other1"
)

// patronSessionScript is what the patron does in a session (run as the patron
// by systemd with PAM, so in a real logind session): fill the home with files,
// browser profiles, an autostart entry, awkward names and links out of the home;
// leave files in the shared temp dirs; start two writers that keep appending to
// the home, one in the session and one under the patron's systemd user manager
// (outside the session, so it outlives the logout until the wipe ends it); then
// stay logged on until the test writes to a FIFO. The script's end is the
// logout, as when a patron closes the desktop.
const patronSessionScript = `set -eu
round=$1
h=$HOME
cd "$h"
for d in Documents Documents/projects/2026/cv/drafts/old Downloads Pictures/holiday/raw Music; do
	mkdir -p "$d"
	i=0
	while [ $i -lt 60 ]; do
		printf 'round %s: patron data in %s, %s\n' "$round" "$d" "$i" > "$d/file-$i.txt"
		i=$((i+1))
	done
done
p=deep; i=0
while [ $i -lt 40 ]; do p=$p/d$i; i=$((i+1)); done
mkdir -p "$p"; printf bottom > "$p/bottom.txt"

ff=.mozilla/firefox/x.default
mkdir -p "$ff" .config/chromium/Default .config/autostart .cache/mozilla/firefox/x.default/cache2
printf '[Profile0]\nName=default\nPath=x.default\n' > .mozilla/firefox/profiles.ini
for f in cookies.sqlite places.sqlite formhistory.sqlite key4.db logins.json; do
	printf 'SQLite format 3\000 %s of the patron\n' "$f" > "$ff/$f"
done
for f in Cookies "Login Data" History "Web Data" Preferences; do
	printf 'SQLite format 3\000 %s of the patron\n' "$f" > ".config/chromium/Default/$f"
done
i=0
while [ $i -lt 50 ]; do head -c 4096 /dev/urandom > ".cache/mozilla/firefox/x.default/cache2/entry-$i"; i=$((i+1)); done
printf '#!/bin/sh\necho pwned\n' > Downloads/updater.sh; chmod +x Downloads/updater.sh
printf '[Desktop Entry]\nType=Application\nName=Updater\nExec=%s/Downloads/updater.sh\n' "$h" > .config/autostart/evil.desktop

printf x > "Documents/résumé final (2).odt"
printf x > "Documents/$(printf 'two\nlines')"
printf x > "Documents/ leading space"
mkdir Documents/readonly; printf x > Documents/readonly/kept; chmod 0500 Documents/readonly
chmod 0 Documents/file-0.txt
mkfifo .cache/fifo
ln -s /etc/carrel-e2e-canary.conf etc-canary
ln -s /home/` + wipeOther + ` Documents/other-home
ln -s /tmp Documents/tmp-link

printf x > "/tmp/patron-round$round.txt"
mkdir -p "/tmp/patron-dir-$round/sub"; printf x > "/tmp/patron-dir-$round/sub/f"
printf x > "/var/tmp/patron-round$round.txt"
printf x > "/dev/shm/patron-round$round"
printf x > "/tmp/shared-by-other/patron-round$round.txt"

( trap '' HUP; i=0; while :; do i=$((i+1)); echo "$i" >> .cache/session-writer.log; done ) &
systemd-run --user --quiet --unit="bg-writer-$round" /bin/sh -c 'i=0; while :; do i=$((i+1)); echo "$i" >> "$HOME/.cache/bg-writer.log"; done'
printf done > .cache/filled
read _ < /run/carrel-e2e/logout
`

// TestWipeAtLogoutInNspawn is issue 4's "done means" with everything real: the
// real carrel-agent installed as a systemd service in a booted container and
// enrolled with a real carrel-hub on the host; real accounts made by useradd; a
// template captured with 'carrel-agent template capture'; a real PAM/logind
// session of the patron that fills the home, the shared temp dirs and leaves
// writers running; a real logout. The hub must get the wipe.done event and see
// the seat free again, and then the home equals the template, no process of the
// patron is left, nothing of the patron is in /tmp, /var/tmp or /dev/shm, and
// nothing outside the patron's scope changed. A second session ends with a
// leftover the wipe cannot remove (an immutable file in /tmp): the hub sees
// the seat dirty, not free, and patron logons stay refused until staff's
// wipe-now comes back clean.
func TestWipeAtLogoutInNspawn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: boots a container")
	}
	if err := nspawn.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	hubBin, agentBin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The hub on the host's loopback; the container shares the host's network.
	hubSrv := testbin.StartHub(t, hubBin)
	tok := hubSrv.Token(t, 1)

	c := nspawn.BootWith(t, nspawn.Options{})
	b := &box{t: t, ctx: ctx, c: c}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.Exec(context.Background(), "journalctl", "--no-pager", "-o", "short-precise", "-n", "250")
			t.Logf("--- the container's journal:\n%s", out)
		}
	})

	// Accounts. logind keeps Debian's default KillUserProcesses=no: the writer
	// the patron leaves running keeps the session "closing" and logind never
	// sends SessionRemoved, so the agent must see the logout from the State
	// (agent/session's logind watcher) and the wipe must end what is left.
	for _, u := range []string{wipePatron, wipeStaff, wipeOther} {
		b.must("useradd", "-m", "-s", "/bin/sh", u)
	}
	patronUID, patronGID := b.ids(wipePatron)
	if out := b.must("sh", "-c", "grep -rhs '^KillUserProcesses' /etc/systemd/logind.conf /etc/systemd/logind.conf.d || true"); strings.Contains(out, "yes") {
		t.Fatalf("the container's logind kills user processes (%q); this test is about the default", out)
	}

	// The fresh profile IT captures: /etc/skel plus a desktop setting, an empty
	// folder, a private folder and a symlink.
	b.sh(`set -e
mkdir -m 0700 /srv/fresh-profile
cp -a /etc/skel/. /srv/fresh-profile/
mkdir -p /srv/fresh-profile/.config /srv/fresh-profile/Desktop /srv/fresh-profile/.local/share
chmod 0700 /srv/fresh-profile/.local/share
printf 'XDG_DESKTOP_DIR="$HOME/Desktop"\n' > /srv/fresh-profile/.config/user-dirs.dirs
chmod 0600 /srv/fresh-profile/.config/user-dirs.dirs
ln -s ../.bashrc /srv/fresh-profile/.config/bashrc`)
	if err := c.CopyIn(agentBin, "/usr/local/bin/carrel-agent", 0o755); err != nil {
		t.Fatal(err)
	}
	b.must("carrel-agent", "template", "capture", "--from", "/srv/fresh-profile", "--to", "/var/lib/carrel/template")
	fresh := tree(t, filepath.Join(c.Root(), "srv/fresh-profile"), map[uint32]uint32{0: uint32(patronUID)}, map[uint32]uint32{0: uint32(patronGID)})
	if len(fresh) < 10 {
		t.Fatalf("the fresh profile lists %d entries: %v", len(fresh), fresh)
	}

	// The agent's configuration: only the seat (session watcher + wipe) runs.
	// [wipe] keeps its defaults otherwise: journal in /var/lib/carrel/wipe,
	// trash /home/.carrel-trash, shared temp dirs /tmp, /var/tmp and /dev/shm.
	b.write("/etc/carrel/agent.toml", fmt.Sprintf(`status_interval = "1s"
disable = ["downloads", "exec_guard", "browser_policy"]

[session]
patron_users = [%q]
staff_users = [%q]

[wipe]
template_dir = "/var/lib/carrel/template"
journal_dir = "/var/lib/carrel/wipe"
`, wipePatron, wipeStaff), 0o644)

	// Canaries outside the patron's scope, recorded before the patron logs on.
	b.sh(fmt.Sprintf(`set -e
printf 'root-owned configuration\n' > /etc/carrel-e2e-canary.conf; chmod 0644 /etc/carrel-e2e-canary.conf
install -o %[1]s -g %[1]s -m 0600 /dev/null /home/%[1]s/private.txt; printf 'other user data\n' > /home/%[1]s/private.txt
install -o %[2]s -g %[2]s -m 0600 /dev/null /home/%[2]s/notes.txt; printf 'staff notes\n' > /home/%[2]s/notes.txt
install -o %[1]s -g %[1]s -m 0600 /dev/null /tmp/other-user.txt; printf 'other tmp\n' > /tmp/other-user.txt
printf 'root tmp\n' > /tmp/root-owned.txt
install -d -o %[1]s -g %[1]s -m 1777 /tmp/shared-by-other
install -o %[1]s -g %[1]s -m 0644 /dev/null /tmp/shared-by-other/others-file
install -o %[1]s -g %[1]s -m 0600 /dev/null /var/tmp/other-user.txt
install -o %[1]s -g %[1]s -m 0600 /dev/null /dev/shm/other-user
mkdir -p /run/carrel-e2e; mkfifo -m 0644 /run/carrel-e2e/logout`, wipeOther, wipeStaff))
	b.write("/usr/local/lib/carrel-e2e/patron-session.sh", patronSessionScript, 0o755)
	canaryPaths := []string{"/etc/carrel-e2e-canary.conf", "/tmp/other-user.txt", "/tmp/root-owned.txt",
		"/tmp/shared-by-other", "/tmp/shared-by-other/others-file", "/var/tmp/other-user.txt", "/dev/shm/other-user"}
	canaries := b.states(canaryPaths)
	for p, st := range canaries {
		if strings.HasPrefix(st, "missing") {
			t.Fatalf("canary %s: %s", p, st)
		}
	}
	otherHome := tree(t, filepath.Join(c.Root(), "home", wipeOther), nil, nil)

	// Install the real service, enrolled with the hub, as IT would.
	out := b.must("carrel-agent", "install", "--hub", tok.HubURL, "--fingerprint", tok.Fingerprint, "--token", tok.Token)
	if !strings.Contains(out, "Service installed") || !strings.Contains(out, "Enrolled.") {
		t.Fatalf("carrel-agent install printed:\n%s", out)
	}
	var term string
	testbin.WaitFor(t, 60*time.Second, "the terminal online", func() bool {
		ts := hubSrv.Terminals(t)
		if len(ts) == 1 && ts[0].Online {
			term = ts[0].ID
			return true
		}
		return false
	})
	hub := &hubDB{t: t, hub: hubSrv, term: term}
	hub.waitState(60*time.Second, protocol.SessionFree)

	// A staff member is logged on all along: never wiped, never ended.
	b.startSession("staff-sess", wipeStaff, "pts/3", "/bin/sleep", "infinity")
	staffID := b.sessionOf(wipeStaff, "pts/3")
	staffHome := tree(t, filepath.Join(c.Root(), "home", wipeStaff), nil, nil)
	staffUID, _ := b.ids(wipeStaff)

	// Round 1: a patron session, a real logout, a clean wipe.
	b.startSession("patron-sess-1", wipePatron, "pts/4", "/bin/sh", "/usr/local/lib/carrel-e2e/patron-session.sh", "1")
	sess1 := b.sessionOf(wipePatron, "pts/4")
	home := filepath.Join(c.Root(), "home", wipePatron)
	b.waitFilled(home)
	// A hard link to a root-owned file outside the home. fs.protected_hardlinks
	// (a host setting) stops the patron making it here, so root makes it; on a
	// PC without that protection the patron could. The wipe may only unlink it.
	b.must("ln", "/etc/carrel-e2e-canary.conf", "/home/"+wipePatron+"/Documents/hardlink.conf")
	hub.waitState(30*time.Second, protocol.SessionInUse)
	if started := hub.waitEvent(30*time.Second, "session.started", 1); started[0].Data["session"] != sess1 {
		t.Fatalf("session.started for session %q, want the patron's %s", started[0].Data["session"], sess1)
	}
	wrote := countTree(t, home)
	if wrote.files < 350 {
		t.Fatalf("the patron's session wrote only %d files", wrote.files)
	}

	logout := time.Now()
	b.sh("echo bye > /run/carrel-e2e/logout") // the session's leader ends: the patron logs out
	removed := b.waitSessionGone(sess1)
	hub.waitState(60*time.Second, protocol.SessionFree)
	free := time.Now()
	done := hub.waitEvent(60*time.Second, "wipe.done", 1)[0]
	evs := hub.seatEvents()
	ended, wiped := evs["session.ended"], evs["session.wiped"]
	if len(evs["session.started"]) != 1 || len(ended) != 1 || len(wiped) != 1 || len(evs["wipe.done"]) != 1 || len(evs) != 4 {
		t.Errorf("round 1: the hub holds these seat events: %v; want one each of session.started, session.ended, session.wiped, wipe.done", evs)
	} else if !(evs["session.started"][0].Seq < ended[0].Seq && ended[0].Seq < wiped[0].Seq && ended[0].Seq < done.Seq) {
		t.Errorf("round 1: seat events out of order: %v", evs)
	} else {
		t.Logf("round 1: logout -> logind removed the session %v; agent: session.ended -> session.wiped %v (%s); removed -> hub shows free %v (the agent compares its status every 1s here, every 2s by default); wipe.done %v",
			removed.Sub(logout).Round(time.Millisecond), wiped[0].Time.Sub(ended[0].Time), wiped[0].Data["took"],
			free.Sub(removed).Round(time.Millisecond), done.Data)
	}
	// The writer under the user manager outlived the logout: the wipe's SIGKILL
	// ended the user manager, not logind's stop after UserStopDelaySec.
	if j := b.must("journalctl", "--no-pager", "-u", fmt.Sprintf("user@%d.service", patronUID)); !strings.Contains(j, "code=killed, status=9/KILL") {
		t.Errorf("the patron's user manager (running a writer) was not killed by the wipe:\n%s", j)
	}

	b.checkWiped(home, fresh, patronUID)
	if done.Data["user"] != wipePatron || done.Data["mode"] != "swap" {
		t.Errorf("wipe.done %v: want user %s, mode swap", done.Data, wipePatron)
	}
	if n := atoi(t, done.Data["files"]); n < wrote.files {
		t.Errorf("wipe.done counts %d files removed; the patron's home held %d at logout", n, wrote.files)
	}
	if n := atoi(t, done.Data["bytes"]); n < wrote.bytes {
		t.Errorf("wipe.done counts %d bytes removed; the patron's home held %d at logout", n, wrote.bytes)
	}
	if ready, purged := atoi(t, done.Data["ms_ready"]), atoi(t, done.Data["ms_purged"]); ready <= 0 || purged < ready {
		t.Errorf("wipe.done ms_ready %d, ms_purged %d", ready, purged)
	}
	if !b.exists("/tmp/shared-by-other") || b.exists("/tmp/shared-by-other/patron-round1.txt") {
		t.Errorf("the patron's file in another user's shared dir: dir kept %v, patron file still there %v",
			b.exists("/tmp/shared-by-other"), b.exists("/tmp/shared-by-other/patron-round1.txt"))
	}
	if ents, err := os.ReadDir(filepath.Join(c.Root(), "home/.carrel-trash")); err != nil || len(ents) != 0 {
		t.Errorf("the trash after wipe.done: %v %v", ents, err)
	}
	b.checkCanaries(canaryPaths, canaries)
	if got := tree(t, filepath.Join(c.Root(), "home", wipeOther), nil, nil); !equalTrees(t, "other user's home", otherHome, got) {
		t.Error("the other user's home changed")
	}
	b.checkStaff(staffID, staffUID, staffHome)
	if e := b.expiry(wipePatron); e != "" {
		t.Errorf("patron account expiry after a clean wipe = %q, want none (logons allowed)", e)
	}

	// Round 2: the patron logs on again; something the wipe cannot remove (an
	// immutable file of the patron in /tmp) is left; staff end the session from
	// the hub. The seat must be reported dirty, never free, and stay held.
	b.startSession("patron-sess-2", wipePatron, "pts/5", "/bin/sh", "/usr/local/lib/carrel-e2e/patron-session.sh", "2")
	sess2 := b.sessionOf(wipePatron, "pts/5")
	b.waitFilled(home)
	hub.waitState(30*time.Second, protocol.SessionInUse)
	b.sh(fmt.Sprintf("install -o %s -m 0600 /dev/null /tmp/stuck && chattr +i /tmp/stuck", wipePatron))
	t.Cleanup(func() { b.c.Exec(context.Background(), "chattr", "-i", "/tmp/stuck") })
	out = testbin.Run(t, hubBin, "command", "--data", hubSrv.Data, term, "end-session", "session="+sess2)
	if !strings.Contains(out, "ended 1 session(s)") {
		t.Fatalf("end-session answered %q", out)
	}
	b.waitSessionGone(sess2)
	dirty := hub.waitEvent(60*time.Second, "session.dirty", 1)[0]
	wipeDirty := hub.waitEvent(60*time.Second, "wipe.dirty", 1)[0]
	st := hub.waitState(30*time.Second, protocol.SessionDirty)
	t.Logf("round 2: session.dirty %v; wipe.dirty %v; status last_wipe %q", dirty.Data, wipeDirty.Data, st.LastWipe)
	if !strings.Contains(wipeDirty.Data["first"], "/tmp/stuck") {
		t.Errorf("wipe.dirty does not name the leftover: %v", wipeDirty.Data)
	}
	if hub.sawState(protocol.SessionFree, dirty.Time) {
		t.Error("the hub saw the seat free after the dirty wipe")
	}
	if e := b.expiry(wipePatron); e != "1" {
		t.Errorf("patron account expiry on a dirty seat = %q, want 1 (logons held)", e)
	}
	if e := b.expiry(wipeStaff); e != "" {
		t.Errorf("staff account expiry = %q, want none", e)
	}
	// --wait returns at once with EXIT_PAM (224) when PAM refuses the logon.
	if err := b.tryLogon("patron-refused", wipePatron, "pts/6"); err == nil || !strings.Contains(err.Error(), "exit status 224") {
		t.Errorf("patron logon on a dirty seat: %v; want refused by PAM (exit status 224)", err)
	}
	b.checkWiped(home, fresh, patronUID, "/tmp/stuck") // the home itself was still rebuilt

	// A dirty seat survives a restart of the agent: it comes back dirty (its
	// start-up Resume retries the unfinished wipe, dirty again), never free.
	restarted := time.Now()
	b.must("systemctl", "restart", "carrel-agent")
	hub.waitEvent(60*time.Second, "wipe.dirty", 2)
	testbin.WaitFor(t, 60*time.Second, "a status from the restarted agent", func() bool {
		st := hub.status()
		return st.AgentStarted.After(restarted) && st.Session == protocol.SessionDirty
	})
	if hub.sawState(protocol.SessionFree, dirty.Time) {
		t.Error("the hub saw the seat free after the agent restarted on a dirty seat")
	}
	if e := b.expiry(wipePatron); e != "1" {
		t.Errorf("patron account expiry after the agent restarted on a dirty seat = %q, want 1", e)
	}

	// Staff clear what was stuck and wipe again from the hub: clean, free, open.
	b.must("chattr", "-i", "/tmp/stuck")
	out = testbin.Run(t, hubBin, "command", "--data", hubSrv.Data, term, "wipe-now")
	if !strings.Contains(out, "wiped 1 account(s): clean") {
		t.Fatalf("wipe-now answered %q", out)
	}
	hub.waitState(30*time.Second, protocol.SessionFree)
	hub.waitEvent(60*time.Second, "wipe.done", 2)
	b.checkWiped(home, fresh, patronUID)
	if e := b.expiry(wipePatron); e != "" {
		t.Errorf("patron account expiry after the clean wipe-now = %q, want none", e)
	}
	b.checkCanaries(canaryPaths, canaries)
	b.checkStaff(staffID, staffUID, staffHome)
	want := map[string]int{"session.started": 2, "session.ended": 2, "session.wiped": 2, "wipe.done": 2, "session.dirty": 1, "wipe.dirty": 2}
	got := map[string]int{}
	for k, evs := range hub.seatEvents() {
		got[k] = len(evs)
	}
	if !maps.Equal(got, want) {
		t.Errorf("seat events at the hub: %v, want %v", got, want)
	}

	// The race-built agent never reported a race and never restarted.
	if j, _ := c.Exec(ctx, "journalctl", "-u", "carrel-agent", "--no-pager"); bytes.Contains(j, []byte("DATA RACE")) {
		t.Errorf("the agent reported a data race:\n%s", j)
	}
	if n := strings.TrimSpace(b.must("systemctl", "show", "-P", "NRestarts", "carrel-agent")); n != "0" {
		t.Errorf("the agent service restarted %s times", n)
	}
}

// box runs commands in the container for one test.
type box struct {
	t   *testing.T
	ctx context.Context
	c   *nspawn.Container
}

func (b *box) must(args ...string) string {
	b.t.Helper()
	out, err := b.c.Exec(b.ctx, args...)
	if err != nil {
		b.t.Fatal(err)
	}
	return string(out)
}

func (b *box) sh(script string) string {
	b.t.Helper()
	return b.must("sh", "-c", script)
}

// write writes a root-owned file in the container, making its directory.
func (b *box) write(p, body string, mode os.FileMode) {
	b.t.Helper()
	full := filepath.Join(b.c.Root(), p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(body), mode); err != nil {
		b.t.Fatal(err)
	}
}

func (b *box) exists(p string) bool {
	_, err := os.Lstat(filepath.Join(b.c.Root(), p))
	return err == nil
}

func (b *box) ids(user string) (uid, gid int) {
	b.t.Helper()
	f := strings.Fields(b.must("sh", "-c", "id -u "+user+"; id -g "+user))
	if len(f) != 2 {
		b.t.Fatalf("id of %s: %q", user, f)
	}
	return atoi(b.t, f[0]), atoi(b.t, f[1])
}

// startSession starts a real PAM/logind session of user on tty running cmd (a
// transient service with PAMName=login, as in agent/session's container test),
// and waits until PAM setup is over and cmd runs as the user.
func (b *box) startSession(unit, user, tty string, cmd ...string) {
	b.t.Helper()
	args := append([]string{"systemd-run", "--quiet", "--unit=" + unit, "-p", "PAMName=login", "-p", "User=" + user,
		"-p", "TTYPath=/dev/" + tty, "-p", "UtmpIdentifier=" + tty, "-p", "UtmpMode=user"}, cmd...)
	b.must(args...)
	want := filepath.Base(cmd[0])
	testbin.WaitFor(b.t, 30*time.Second, unit+" running "+want, func() bool {
		out, _ := b.c.Exec(b.ctx, "sh", "-c", "cat /proc/$(systemctl show -P MainPID "+unit+")/comm")
		return strings.TrimSpace(string(out)) == want
	})
}

// tryLogon starts a session of user that runs /bin/true and waits for its end;
// the error says how the unit ended (exit status 224 when PAM refused it).
func (b *box) tryLogon(unit, user, tty string) error {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	_, err := b.c.Exec(ctx, "systemd-run", "--quiet", "--wait", "--unit="+unit, "-p", "PAMName=login", "-p", "User="+user,
		"-p", "TTYPath=/dev/"+tty, "-p", "UtmpIdentifier="+tty, "-p", "UtmpMode=user", "/bin/true")
	return err
}

// sessionOf waits until logind lists a session of user on tty and returns its id.
func (b *box) sessionOf(user, tty string) string {
	b.t.Helper()
	var id string
	testbin.WaitFor(b.t, 30*time.Second, "a logind session of "+user+" on "+tty, func() bool {
		for _, s := range b.sessions() {
			if s[2] == user && s[len(s)-1] == tty {
				id = s[0]
				return true
			}
		}
		return false
	})
	return id
}

// sessions lists logind's sessions as fields: SESSION UID USER [SEAT] TTY.
func (b *box) sessions() [][]string {
	b.t.Helper()
	var out [][]string
	for _, line := range strings.Split(b.must("loginctl", "list-sessions", "--no-legend"), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			out = append(out, f)
		}
	}
	return out
}

// waitSessionGone waits until logind no longer lists session id and returns when.
func (b *box) waitSessionGone(id string) time.Time {
	b.t.Helper()
	testbin.WaitFor(b.t, 30*time.Second, "session "+id+" to be removed", func() bool {
		for _, s := range b.sessions() {
			if s[0] == id {
				return false
			}
		}
		return true
	})
	return time.Now()
}

// waitFilled waits until the patron's session has filled the home and both
// writers are appending to it.
func (b *box) waitFilled(home string) {
	b.t.Helper()
	testbin.WaitFor(b.t, 60*time.Second, "the patron's session to fill the home", func() bool {
		_, err := os.Stat(filepath.Join(home, ".cache/filled"))
		return err == nil
	})
	for _, f := range []string{"session-writer.log", "bg-writer.log"} {
		p := filepath.Join(home, ".cache", f)
		first := int64(-1)
		testbin.WaitFor(b.t, 30*time.Second, f+" growing", func() bool {
			info, err := os.Stat(p)
			if err != nil {
				return false
			}
			if first < 0 {
				first = info.Size()
			}
			return info.Size() > first
		})
	}
}

// expiry is the account's expiry field in the container's /etc/shadow.
func (b *box) expiry(user string) string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.c.Root(), "etc/shadow"))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) == 9 && f[0] == user {
			return f[7]
		}
	}
	b.t.Fatalf("%s is not in the container's shadow file", user)
	return ""
}

// checkWiped asserts the state after a wipe: the home equals the fresh profile,
// no process of the patron's uid runs, and the shared temp dirs hold nothing of
// the patron's except the paths in allowed.
func (b *box) checkWiped(home string, fresh map[string]string, uid int, allowed ...string) {
	b.t.Helper()
	if got := tree(b.t, home, nil, nil); !equalTrees(b.t, "home vs template", fresh, got) {
		b.t.Error("the patron's home does not equal the template")
	}
	if ps := procsOf(b.t, filepath.Join(b.c.Root(), "proc"), uid); len(ps) > 0 {
		b.t.Errorf("processes of the patron's uid %d still run: %v", uid, ps)
	}
	for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		filepath.WalkDir(filepath.Join(b.c.Root(), d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			info, err := e.Info()
			if err != nil {
				return nil
			}
			rel := "/" + strings.TrimPrefix(p, b.c.Root()+"/")
			if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && !slices.Contains(allowed, rel) {
				b.t.Errorf("a file of the patron is left in %s: %s", d, rel)
			}
			return nil
		})
	}
}

// checkCanaries asserts the paths outside the patron's scope are unchanged.
func (b *box) checkCanaries(paths []string, before map[string]string) {
	b.t.Helper()
	after := b.states(paths)
	for _, p := range paths {
		if before[p] != after[p] {
			b.t.Errorf("canary %s changed:\nbefore %s\nafter  %s", p, before[p], after[p])
		}
	}
}

// checkStaff asserts the staff session is still open, its process alive, and
// the staff home unchanged.
func (b *box) checkStaff(id string, uid int, home map[string]string) {
	b.t.Helper()
	open := false
	for _, s := range b.sessions() {
		open = open || s[0] == id
	}
	if !open {
		b.t.Errorf("the staff session %s was ended", id)
	}
	// (This also shows procsOf sees the container's processes.)
	if ps := procsOf(b.t, filepath.Join(b.c.Root(), "proc"), uid); !slices.ContainsFunc(ps, func(p string) bool { return strings.HasSuffix(p, " sleep") }) {
		b.t.Errorf("the staff session's process is gone; the staff's processes: %v", ps)
	}
	if got := tree(b.t, filepath.Join(b.c.Root(), "home", wipeStaff), nil, nil); !equalTrees(b.t, "staff home", home, got) {
		b.t.Error("the staff home changed")
	}
}

func (b *box) states(paths []string) map[string]string {
	b.t.Helper()
	m := map[string]string{}
	for _, p := range paths {
		m[p] = fileState(b.t, filepath.Join(b.c.Root(), p))
	}
	return m
}

// fileState is one path as the comparisons see it (see describe).
func fileState(t *testing.T, p string) string {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		return "missing: " + err.Error()
	}
	st := info.Sys().(*syscall.Stat_t)
	return describe(t, p, info, st.Uid, st.Gid, true)
}

// describe is type and mode, owner, link count (withLinks, or for
// non-directories), and the content's hash or the link's target.
func describe(t *testing.T, p string, info fs.FileInfo, uid, gid uint32, withLinks bool) string {
	t.Helper()
	s := fmt.Sprintf("%v %d:%d", info.Mode(), uid, gid)
	if withLinks || !info.IsDir() {
		s += fmt.Sprintf(" nlink=%d", info.Sys().(*syscall.Stat_t).Nlink)
	}
	switch {
	case info.Mode().IsRegular():
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			t.Fatal(err)
		}
		s += " sha256=" + hex.EncodeToString(h.Sum(nil))
	case info.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		s += " -> " + target
	}
	return s
}

// tree lists every entry under dir (not following symlinks) by relative path
// (see describe). Owners found in uidMap and gidMap are replaced (the fresh
// profile is root's; the home is the patron's). Directory link counts are left
// out: they follow the number of subdirectories, which the paths already show.
func tree(t *testing.T, dir string, uidMap, gidMap map[uint32]uint32) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := e.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		uid, gid := st.Uid, st.Gid
		if v, ok := uidMap[uid]; ok {
			uid = v
		}
		if v, ok := gidMap[gid]; ok {
			gid = v
		}
		m[rel] = describe(t, p, info, uid, gid, false)
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return m
}

// equalTrees reports whether two listings match, logging every difference.
func equalTrees(t *testing.T, what string, want, got map[string]string) bool {
	t.Helper()
	var diffs []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %q (%s)", p, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("differs %q: want %s, got %s", p, w, g))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %q (%s)", p, g))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 30 {
		diffs = append(diffs[:30], fmt.Sprintf("... and %d more", len(diffs)-30))
	}
	for _, d := range diffs {
		t.Logf("%s: %s", what, d)
	}
	return len(diffs) == 0
}

type treeCount struct{ files, bytes int }

// countTree counts the non-directories under dir and the bytes of its regular files.
func countTree(t *testing.T, dir string) treeCount {
	t.Helper()
	var n treeCount
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		n.files++
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n.bytes += int(info.Size())
		}
		return nil
	})
	return n
}

// procsOf lists the live processes (not zombies) in procDir with uid as their
// real, effective, saved or filesystem uid, as "pid name".
func procsOf(t *testing.T, procDir string, uid int) []string {
	t.Helper()
	ents, err := os.ReadDir(procDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procDir, e.Name(), "status"))
		if err != nil {
			continue
		}
		var name, state string
		var uids []string
		for _, line := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch k {
			case "Name":
				name = strings.TrimSpace(v)
			case "State":
				state = strings.TrimSpace(v)
			case "Uid":
				uids = strings.Fields(v)
			}
		}
		if strings.HasPrefix(state, "Z") {
			continue
		}
		if slices.Contains(uids, strconv.Itoa(uid)) {
			out = append(out, e.Name()+" "+name)
		}
	}
	return out
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// hubDB reads what the hub stored about one terminal, as staff would see it.
type hubDB struct {
	t    *testing.T
	hub  *testbin.Hub
	term string
	// seen is every distinct status the hub held while this test polled, with
	// when it was first seen.
	seen []seenState
}

type seenState struct {
	state protocol.SessionState
	at    time.Time
}

func (h *hubDB) status() protocol.Status {
	h.t.Helper()
	var raw sql.NullString
	if err := h.hub.DB(h.t).QueryRow(`SELECT last_status FROM terminals WHERE id = ?`, h.term).Scan(&raw); err != nil {
		h.t.Fatalf("read status: %v", err)
	}
	var st protocol.Status
	if raw.Valid {
		if err := json.Unmarshal([]byte(raw.String), &st); err != nil {
			h.t.Fatalf("status %s: %v", raw.String, err)
		}
	}
	if n := len(h.seen); n == 0 || h.seen[n-1].state != st.Session {
		h.seen = append(h.seen, seenState{st.Session, time.Now()})
	}
	return st
}

// waitState waits until the terminal's last status has the session state want.
func (h *hubDB) waitState(d time.Duration, want protocol.SessionState) protocol.Status {
	h.t.Helper()
	var st protocol.Status
	testbin.WaitFor(h.t, d, "the hub to show the seat "+string(want), func() bool {
		st = h.status()
		return st.Session == want
	})
	return st
}

// sawState reports whether the hub showed state at or after since.
func (h *hubDB) sawState(state protocol.SessionState, since time.Time) bool {
	h.status()
	for _, s := range h.seen {
		if s.state == state && !s.at.Before(since) {
			return true
		}
	}
	return false
}

// waitEvent waits until the hub holds at least n events of kind for the
// terminal and returns them all.
func (h *hubDB) waitEvent(d time.Duration, kind string, n int) []testbin.Event {
	h.t.Helper()
	var evs []testbin.Event
	testbin.WaitFor(h.t, d, fmt.Sprintf("%d %s event(s) at the hub", n, kind), func() bool {
		evs = h.hub.Events(h.t, h.term, kind)
		return len(evs) >= n
	})
	return evs
}

// seatEvents returns the session.* and wipe.* events the hub holds for the
// terminal, by kind.
func (h *hubDB) seatEvents() map[string][]testbin.Event {
	h.t.Helper()
	m := map[string][]testbin.Event{}
	for _, e := range h.hub.Events(h.t, h.term, "") {
		if strings.HasPrefix(e.Kind, "session.") || strings.HasPrefix(e.Kind, "wipe.") {
			m[e.Kind] = append(m[e.Kind], e)
		}
	}
	return m
}
