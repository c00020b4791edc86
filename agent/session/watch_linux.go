//go:build linux

package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	logindName    = "org.freedesktop.login1"
	logindPath    = dbus.ObjectPath("/org/freedesktop/login1")
	logindManager = "org.freedesktop.login1.Manager"
	logindSession = "org.freedesktop.login1.Session"
)

// NewWatcher returns the Linux watcher: logind's D-Bus signals, or, when no
// system bus or no logind answers at the start of a Run, the utmp file polled
// every cfg.PollInterval.
func NewWatcher(cfg Config, log *slog.Logger) Watcher {
	return &linuxWatcher{
		log:    log,
		logind: &logindWatcher{log: log},
		utmp:   newUtmpWatcher(cfg.UtmpPath, time.Duration(cfg.PollInterval), log),
	}
}

type linuxWatcher struct {
	log    *slog.Logger
	logind *logindWatcher
	utmp   *utmpWatcher
}

var _ Watcher = (*linuxWatcher)(nil)

func (w *linuxWatcher) Run(ctx context.Context, fn func(Event)) error {
	err := w.logind.Run(ctx, fn)
	if !errors.Is(err, errNoLogind) {
		return err
	}
	w.log.Warn("No logind on the system bus; watching utmp instead", "error", err)
	return w.utmp.Run(ctx, fn)
}

// errNoLogind means logind could not be reached before anything was reported.
var errNoLogind = errors.New("logind not reachable")

// logindWatcher follows logind's SessionNew and SessionRemoved signals. Only
// sessions of class "user" are reported (not greeters, lock screens or
// background sessions such as cron).
//
// A session whose user logged out but left a process behind stays "closing"
// (logind's KillUserProcesses=no, Debian's default) and SessionRemoved never
// comes while that process lives: a patron could keep the wipe away with one
// `nohup`. So every closingPoll, while it knows a session, the watcher reads
// the State of the sessions it knows and reports a "closing" one as logged off;
// the wipe then ends what is left. With no session known it does not poll.
type logindWatcher struct {
	log         *slog.Logger
	closingPoll time.Duration // 0: every 500 ms
}

// NewLogindWatcher returns a watcher that uses logind only, with no fallback.
func NewLogindWatcher(log *slog.Logger) Watcher { return &logindWatcher{log: log} }

var _ Watcher = (*logindWatcher)(nil)

func (w *logindWatcher) Run(ctx context.Context, fn func(Event)) error {
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("%w: connect system bus: %v", errNoLogind, err)
	}
	defer conn.Close()

	// Signals are accepted only from logind's unique name: any bus client may
	// send a signal straight to this connection.
	var owner string
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetNameOwner", 0, logindName).Store(&owner); err != nil {
		return fmt.Errorf("%w: %v", errNoLogind, err)
	}
	sigs := make(chan *dbus.Signal, 64)
	conn.Signal(sigs)
	for _, member := range []string{"SessionNew", "SessionRemoved"} {
		if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(logindName), dbus.WithMatchObjectPath(logindPath),
			dbus.WithMatchInterface(logindManager), dbus.WithMatchMember(member)); err != nil {
			return fmt.Errorf("%w: subscribe %s: %v", errNoLogind, member, err)
		}
	}
	// A logind restart changes the owner: start over so nothing is missed.
	if err := conn.AddMatchSignalContext(ctx, dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, logindName)); err != nil {
		return fmt.Errorf("%w: subscribe NameOwnerChanged: %v", errNoLogind, err)
	}

	// Subscribed first, listed second: a session that starts in between is in
	// the list or arrives as a signal, and known filters the duplicate.
	var list []struct {
		ID   string
		UID  uint32
		User string
		Seat string
		Path dbus.ObjectPath
	}
	mgr := conn.Object(logindName, logindPath)
	if err := mgr.CallWithContext(ctx, logindManager+".ListSessions", 0).Store(&list); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w: list sessions: %v", errNoLogind, err)
	}
	known := make(map[string]Session)
	for _, l := range list {
		s, ok := w.session(ctx, conn, l.Path)
		if !ok {
			continue
		}
		known[s.ID] = s
		fn(Event{Kind: Logon, Session: s, Initial: true})
	}
	fn(Event{})

	every := w.closingPoll
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	// The poll runs only while a session is known: an idle seat (nobody logged
	// on) is woken by logind's signals alone.
	poll := time.NewTicker(every)
	defer poll.Stop()
	for {
		var tick <-chan time.Time
		if len(known) > 0 {
			tick = poll.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			for id, s := range known {
				if w.closing(ctx, conn, s) {
					w.log.Info("Session closing with processes left; counted as logged off", "session", id)
					delete(known, id)
					fn(Event{Kind: Logoff, Session: s})
				}
			}
		case sig, ok := <-sigs:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("logind watcher: system bus connection closed")
			}
			switch sig.Name {
			case "org.freedesktop.DBus.NameOwnerChanged":
				return errors.New("logind watcher: logind restarted")
			case logindManager + ".SessionNew":
				if sig.Sender != owner || len(sig.Body) < 2 {
					continue
				}
				id, _ := sig.Body[0].(string)
				path, _ := sig.Body[1].(dbus.ObjectPath)
				if _, dup := known[id]; dup || id == "" {
					continue
				}
				s, ok := w.session(ctx, conn, path)
				if !ok {
					continue
				}
				known[s.ID] = s
				fn(Event{Kind: Logon, Session: s})
			case logindManager + ".SessionRemoved":
				if sig.Sender != owner || len(sig.Body) < 1 {
					continue
				}
				id, _ := sig.Body[0].(string)
				if s, ok := known[id]; ok {
					delete(known, id)
					fn(Event{Kind: Logoff, Session: s})
				}
			}
		}
	}
}

// closing reports whether logind says the session's user has logged out while
// some of its processes live on. A session that cannot be read is left to
// SessionRemoved.
func (w *logindWatcher) closing(ctx context.Context, conn *dbus.Conn, s Session) bool {
	var state dbus.Variant
	err := conn.Object(logindName, dbus.ObjectPath(s.path)).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, logindSession, "State").Store(&state)
	if err != nil {
		return false
	}
	v, _ := state.Value().(string)
	return v == "closing"
}

// session reads a session's properties; ok is false for sessions that are not
// of class "user" or that vanished before they could be read.
func (w *logindWatcher) session(ctx context.Context, conn *dbus.Conn, path dbus.ObjectPath) (Session, bool) {
	var props map[string]dbus.Variant
	err := conn.Object(logindName, path).CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", 0, logindSession).Store(&props)
	if err != nil {
		w.log.Debug("Session gone before it could be read", "path", path, "error", err)
		return Session{}, false
	}
	str := func(k string) string { s, _ := props[k].Value().(string); return s }
	if str("Class") != "user" {
		return Session{}, false
	}
	s := Session{ID: str("Id"), User: str("Name"), TTY: str("TTY"), Type: str("Type"), Display: str("Display"), path: string(path)}
	if pid, ok := props["Leader"].Value().(uint32); ok && pid <= math.MaxInt32 {
		s.leader = int32(pid)
	}
	if u, ok := props["User"].Value().([]any); ok && len(u) == 2 {
		if uid, ok := u[0].(uint32); ok {
			s.UID = fmt.Sprint(uid)
		}
	}
	if ts, ok := props["Timestamp"].Value().(uint64); ok && ts > 0 {
		s.Since = time.UnixMicro(int64(ts)).UTC()
	} else {
		s.Since = time.Now().UTC()
	}
	if s.ID == "" || s.User == "" {
		return Session{}, false
	}
	return s, true
}

// utmpWatcher polls a utmp file. Session ids are "tty:" + the terminal.
type utmpWatcher struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	// procDir is the /proc of the pid namespace the utmp pids belong to.
	procDir string
	polled  func() // test hook, called after each poll
}

// NewUtmpWatcher returns a watcher that polls the utmp file at path every
// interval (at least 100ms). A missing file means nobody is logged on; a file
// that does not parse keeps the last good view and is retried. A USER_PROCESS
// record whose process is gone counts as logged off: whoever ends a session
// does not always write the DEAD_PROCESS record (seen 2026-11 with systemd 252
// when logind terminates a session started by a unit with UtmpMode=user). A
// reused pid can keep a stale record alive; that is a limitation of utmp.
func NewUtmpWatcher(path string, interval time.Duration, log *slog.Logger) Watcher {
	return newUtmpWatcher(path, interval, log)
}

func newUtmpWatcher(path string, interval time.Duration, log *slog.Logger) *utmpWatcher {
	return &utmpWatcher{path: path, interval: max(interval, 100*time.Millisecond), log: log, procDir: "/proc"}
}

func (w *utmpWatcher) alive(pid int32) bool {
	if pid <= 0 {
		return true // no pid recorded: trust the record
	}
	_, err := os.Stat(filepath.Join(w.procDir, strconv.Itoa(int(pid))))
	return !errors.Is(err, os.ErrNotExist)
}

var _ Watcher = (*utmpWatcher)(nil)

func (w *utmpWatcher) Run(ctx context.Context, fn func(Event)) error {
	p := newPollWatcher(w.log, w.interval, w.list)
	p.complete = func(s Session) Session { s.UID = lookupUID(s.User); return s }
	p.polled = w.polled
	return p.Run(ctx, fn)
}

// list reads the open sessions from the utmp file: its USER_PROCESS records
// whose process is alive.
func (w *utmpWatcher) list(context.Context) ([]Session, error) {
	b, err := os.ReadFile(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var recs []utmpRecord
	if err == nil {
		recs, err = parseUtmp(b)
	}
	if err != nil {
		return nil, fmt.Errorf("read utmp %s: %w", w.path, err)
	}
	var out []Session
	for id, r := range utmpSessions(recs) {
		if w.alive(r.PID) {
			out = append(out, Session{ID: id, User: r.User, Since: r.Time, TTY: r.Line, leader: r.PID})
		}
	}
	return out, nil
}
