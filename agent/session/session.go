package session

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"time"

	"github.com/carrel-kiosk/carrel/agent/overlay"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrNotImplemented is returned by the parts that have no implementation on this OS.
var ErrNotImplemented = fmt.Errorf("session: not implemented on this OS: %w", errors.ErrUnsupported)

// Kind says whether an Event is a logon or a logoff.
type Kind int

const (
	Logon Kind = iota + 1
	Logoff
)

func (k Kind) String() string {
	switch k {
	case Logon:
		return "logon"
	case Logoff:
		return "logoff"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Session is one interactive session as the OS reports it.
type Session struct {
	// ID is the OS's session id: logind's id ("3"), "tty:pts/5" under the utmp
	// fallback, the WTS session number on Windows, "console" on macOS.
	ID string
	// User is the account name.
	User string
	// UID is the numeric uid on Unix, or empty where the OS has none at hand.
	UID string
	// Since is when the session started, or when the watcher first saw it.
	Since time.Time
	// TTY is the session's terminal ("pts/5", "tty1"), if any.
	TTY string
	// Type is logind's session type ("tty", "x11", "wayland"), or empty.
	Type string
	// Display is the session's X display (logind's Display: ":0"), or empty.
	Display string

	leader int32  // the session leader's pid (utmp: to tell a reused line apart; logind: Leader)
	path   string // logind: the session's D-Bus object path
}

// Event is a logon or logoff. Initial marks a logon that was already open when
// the watcher started.
type Event struct {
	Kind    Kind
	Session Session
	Initial bool
}

// Watcher reports logons and logoffs of interactive sessions on this PC, of
// every account: the Policy is applied by the Manager, not here.
//
// Run first reports each session open at start as a Logon with Initial set, then
// calls fn once with a zero Event (Kind 0) to say the initial list is complete,
// then reports every change until ctx ends. It calls fn from one goroutine, in
// the order the OS reported the changes, and never concurrently; fn must return
// quickly and must not call Run. A Logoff is only reported for a session whose
// Logon was reported. Run returns nil when ctx ends (cancellation is not an
// error) and an error when the watcher cannot go on (bus lost); the caller may
// call Run again, and the new run reports the open sessions afresh.
type Watcher interface {
	Run(ctx context.Context, fn func(Event)) error
}

// SessionChangeNotifier is implemented by the Windows watcher. The agent's
// Windows service accepts svc.AcceptSessionChange and passes every
// svc.SessionChange request to it (EventType and the session id from
// WTSSESSION_NOTIFICATION). It returns at once and is safe to call from any
// goroutine; notifications that arrive while no Run is active are dropped (the
// next Run lists the sessions anyway).
type SessionChangeNotifier interface {
	SessionChange(eventType uint32, sessionID uint32)
}

// User is the patron account a wipe is for.
type User struct {
	Name string
	UID  string
}

// Wiper wipes a patron's session data after logoff (agent/wipe implements it).
// Wipe returns nil only when the wipe was verified clean; any error leaves the
// seat dirty and locked. It is called from one goroutine at a time.
type Wiper interface {
	Wipe(ctx context.Context, u User) error
}

// WiperFunc adapts a function to Wiper; the composition root wraps agent/wipe's
// engine in one.
type WiperFunc func(ctx context.Context, u User) error

// Wipe calls f.
func (f WiperFunc) Wipe(ctx context.Context, u User) error { return f(ctx, u) }

// EventSink records events for the hub. The agent's outbox implements it.
type EventSink interface {
	// Emit records one event durably for the hub. data values are short plain text.
	Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error
}

// SessionSource is what the agent's status reporting reads. Current is safe to
// call from any goroutine. Changes returns one channel, shared by all callers,
// that receives a value (coalesced, never blocking the sender) after the state
// or the lock changed; read Current after it fires.
type SessionSource interface {
	Current() (protocol.SessionState, time.Time)
	Changes() <-chan struct{}
}

// Controller does the OS side of session control. Its methods may be called from
// several goroutines at once and must honour ctx.
type Controller interface {
	// HoldLogons stops new logons of the given patron accounts (hold true) or
	// lets them in again (hold false).
	HoldLogons(ctx context.Context, accounts []string, hold bool) error
	// LockSession shows the lock in the session (the lock overlay, or the
	// session's own screen locker where there is no overlay).
	LockSession(ctx context.Context, s Session) error
	// UnlockSession removes what LockSession showed, where that is the
	// controller's own (the overlay); a screen locker stays for the patron.
	UnlockSession(ctx context.Context, s Session) error
	// Terminate ends the session and its processes.
	Terminate(ctx context.Context, s Session) error
	// Message shows text, already checked, to the session's user.
	Message(ctx context.Context, s Session, text string) error
	// Notice shows the patron a short note from the agent itself (a download
	// not kept, a program refused): text already checked, shown for a few
	// seconds without taking the keyboard or the focus where the OS allows.
	Notice(ctx context.Context, s Session, text string) error
	// Countdown shows "this session ends in N s" until deadline (a zero
	// deadline removes it); ErrNotImplemented where the session has no
	// overlay (the Manager then sends a message instead).
	Countdown(ctx context.Context, s Session, deadline time.Time) error
	// Ended tells the controller that the session is gone: whatever it runs
	// for the session stops. It returns at once.
	Ended(s Session)
}

// patronScreen is implemented by controllers whose session helper shows the
// patron's own screen (the sign-in form, the time left): Linux X11 and
// Windows. The Manager finds it through Unwrapper like the helpers.
type patronScreen interface {
	// ShowPatron shows p in s, over the lock (lock true) or as the strip.
	ShowPatron(ctx context.Context, s Session, lock bool, p overlay.PatronScreen) error
	// PatronInputs delivers what patrons did on that screen.
	PatronInputs() <-chan overlay.Input
	// PatronIdle is the time since the patron's last input in s, false when
	// the helper does not know.
	PatronIdle(s Session) (time.Duration, bool)
}

// patronScreenOf finds the patron screen of c, through any wrappers.
func patronScreenOf(c Controller) (patronScreen, bool) {
	for c != nil {
		if p, ok := c.(patronScreen); ok {
			return p, true
		}
		u, ok := c.(Unwrapper)
		if !ok {
			return nil, false
		}
		c = u.Unwrap()
	}
	return nil, false
}

// helperRunner is implemented by controllers that run helpers in patron
// sessions (the Linux overlay): the Manager runs it for as long as it runs.
type helperRunner interface {
	runHelpers(ctx context.Context, sink EventSink) error
}

// Unwrapper is implemented by a Controller that wraps another (the agent's
// logon-gated controller): the Manager looks through it for the session
// helpers the wrapped controller runs. Without it a wrapped controller's
// helpers never start, and the lock screen, the countdown, messages and
// notices are never shown by them.
type Unwrapper interface {
	Unwrap() Controller
}

// helpersOf finds the helper runner of c, through any wrappers.
func helpersOf(c Controller) (helperRunner, bool) {
	for c != nil {
		if r, ok := c.(helperRunner); ok {
			return r, true
		}
		u, ok := c.(Unwrapper)
		if !ok {
			return nil, false
		}
		c = u.Unwrap()
	}
	return nil, false
}

// Power reboots or shuts down the PC. Both return once the OS accepted the request.
type Power interface {
	Reboot(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Clock is time.Now, replaceable in tests.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Config configures the session component. The zero value is not usable; start
// from DefaultConfig.
type Config struct {
	// PatronUsers lists the patron account names. Default: ["patron"].
	PatronUsers []string `toml:"patron_users"`
	// PatronGroup makes every member of this group a patron too. Default: "" (none).
	PatronGroup string `toml:"patron_group"`
	// StaffUsers are never patrons, whatever the two settings above say. root
	// (uid 0) and, on Windows, Administrator are never patrons either.
	// Default: [] (only the built-in exclusions).
	StaffUsers []string `toml:"staff_users"`
	// PollInterval is how often the fallback watchers (utmp, WTS, macOS console)
	// look for changes. Default: 2s.
	PollInterval Duration `toml:"poll_interval"`
	// UtmpPath is the utmp file the Linux fallback reads. Default: /run/utmp.
	UtmpPath string `toml:"utmp_path"`
	// WipeTimeout bounds one wipe; a wipe that takes longer leaves the seat dirty.
	// Default: 10m.
	WipeTimeout Duration `toml:"wipe_timeout"`
	// PatronSignIn makes patrons sign in with a library card or a guest pass
	// (the hub checks them): a patron session opens under the sign-in screen
	// and is unlocked for the hub's grant only. Default: false.
	PatronSignIn bool `toml:"patron_signin"`
	// OfflineMinutes is what a sign-in gets while the hub cannot be reached:
	// 0 (the default) keeps the PC locked; N > 0 opens an offline session of
	// N minutes, reported to the hub when the link returns.
	OfflineMinutes int `toml:"offline_minutes"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		PatronUsers:  []string{"patron"},
		PollInterval: Duration(2 * time.Second),
		UtmpPath:     "/run/utmp",
		WipeTimeout:  Duration(10 * time.Minute),
	}
}

// Duration is a time.Duration written as text ("2s", "10m") in TOML.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Policy decides which accounts are patrons.
type Policy struct {
	Users []string
	Group string
	Staff []string
	// groupMembers looks up a user's groups; os/user by default, replaced in tests.
	groupsOf func(name string) ([]string, error)
}

// NewPolicy makes the policy from cfg.
func NewPolicy(cfg Config) *Policy {
	return &Policy{Users: cfg.PatronUsers, Group: cfg.PatronGroup, Staff: cfg.StaffUsers, groupsOf: userGroups}
}

// IsPatron reports whether the session belongs to a patron account. Staff
// accounts, uid 0 and the built-in administrators are never patrons; a group
// lookup that fails counts as "not a patron" (never wipe what we cannot place).
func (p *Policy) IsPatron(s Session) bool {
	if s.User == "" || s.UID == "0" || isBuiltinAdmin(s.User) || slices.Contains(p.Staff, s.User) {
		return false
	}
	if slices.Contains(p.Users, s.User) {
		return true
	}
	if p.Group == "" || p.groupsOf == nil {
		return false
	}
	groups, err := p.groupsOf(s.User)
	if err != nil {
		return false
	}
	return slices.Contains(groups, p.Group)
}

func isBuiltinAdmin(name string) bool {
	switch name {
	case "root", "Administrator", "SYSTEM":
		return true
	}
	return false
}

// userGroups returns the names of name's groups, primary included.
func userGroups(name string) ([]string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, id := range ids {
		if g, err := user.LookupGroupId(id); err == nil {
			names = append(names, g.Name)
		}
	}
	return names, nil
}
