package session

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrBadArgs marks a command refused for its arguments; test with errors.Is.
var ErrBadArgs = errors.New("bad arguments")

// Handlers returns the handlers for the actions this package carries out: lock,
// unlock, message, end-session, wipe-now, reboot and shutdown. The agent's
// command table (package agent) answers these actions from it.
func (m *Manager) Handlers() map[protocol.Action]protocol.CommandHandler {
	return map[protocol.Action]protocol.CommandHandler{
		protocol.ActionLock:       m.Lock,
		protocol.ActionUnlock:     m.Unlock,
		protocol.ActionMessage:    m.Message,
		protocol.ActionEndSession: m.EndSession,
		protocol.ActionWipeNow:    m.WipeNow,
		protocol.ActionReboot:     m.Reboot,
		protocol.ActionShutdown:   m.Shutdown,
	}
}

// checkArgs refuses any argument not in allowed.
func checkArgs(args map[string]string, allowed ...string) error {
	var bad []string
	for k := range args {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	takes := "no arguments"
	if len(allowed) > 0 {
		takes = "only " + strings.Join(allowed, ", ")
	}
	return fmt.Errorf("%w: unknown argument %q (this command takes %s)", ErrBadArgs, bad[0], takes)
}

// Lock locks the seat: persisted at once, new patron logons held, open patron
// sessions asked to lock. Takes no arguments.
func (m *Manager) Lock(ctx context.Context, args map[string]string) (string, error) {
	if err := checkArgs(args); err != nil {
		return "", err
	}
	return m.setLocked(ctx, true)
}

// Unlock unlocks the seat. A dirty seat stays held until a clean wipe-now.
// Takes no arguments.
func (m *Manager) Unlock(ctx context.Context, args map[string]string) (string, error) {
	if err := checkArgs(args); err != nil {
		return "", err
	}
	return m.setLocked(ctx, false)
}

// ApplyLock re-applies the hub's truth for the lock (Welcome.Locked); it does
// nothing when the seat already agrees.
func (m *Manager) ApplyLock(ctx context.Context, locked bool) error {
	if m.Locked() == locked {
		return nil
	}
	_, err := m.setLocked(ctx, locked)
	return err
}

func (m *Manager) setLocked(ctx context.Context, locked bool) (string, error) {
	m.mu.Lock()
	was := m.ls.Locked
	m.ls.Locked = locked
	m.ls.Changed = m.clock.Now()
	err := m.store.Save(m.ls)
	if err != nil {
		m.ls.Locked = was
		m.mu.Unlock()
		return "", fmt.Errorf("persist lock state: %w", err)
	}
	m.recompute()
	m.signal(m.changes) // Locked moved even if the state did not (a dirty seat stays dirty)
	open := m.patronSessions()
	dirty := m.ls.Dirty
	m.mu.Unlock()
	if err := m.applyHold(ctx); err != nil {
		if locked {
			return "", fmt.Errorf("locked, but holding patron logons failed (new patron sessions will be ended instead): %w", err)
		}
		return "", fmt.Errorf("unlocked, but releasing patron logons failed (patrons may not be able to log on): %w", err)
	}

	if m.cfg.PatronSignIn {
		// The sign-in form comes back (or goes) with the staff lock; a
		// session without a grant is never simply unlocked.
		defer m.desk.refresh(ctx)
	}
	if !locked {
		m.emit(protocol.EventSessionUnlocked, protocol.SeverityInfo, nil)
		var failed []string
		for _, s := range open {
			if m.cfg.PatronSignIn && !m.desk.runsOn(s.ID) {
				continue
			}
			if err := m.ctl.UnlockSession(ctx, s); err != nil && !errors.Is(err, ErrNotImplemented) {
				failed = append(failed, s.ID)
				m.log.Warn("Unlock open session", "session", s.ID, "error", err)
			}
		}
		if len(failed) > 0 {
			return "", fmt.Errorf("unlocked and logons released, but removing the lock screen from session(s) %s failed", strings.Join(failed, ", "))
		}
		if dirty != "" {
			return "unlocked; the seat stays held until a clean wipe-now (last wipe: " + dirty + ")", nil
		}
		return "unlocked", nil
	}
	m.emit(protocol.EventSessionLocked, protocol.SeverityInfo, nil)
	var failed []string
	for _, s := range open {
		if err := m.ctl.LockSession(ctx, s); err != nil && !errors.Is(err, ErrNotImplemented) {
			failed = append(failed, s.ID)
			m.log.Warn("Lock open session", "session", s.ID, "error", err)
		}
	}
	if len(failed) > 0 {
		return "", fmt.Errorf("locked and new logons held, but locking session(s) %s failed", strings.Join(failed, ", "))
	}
	return fmt.Sprintf("locked; %d open session(s) asked to lock", len(open)), nil
}

// Message shows a plain-text message to every open patron session. args: text
// (required, at most protocol.MaxMessageText bytes, no control characters other
// than newlines).
func (m *Manager) Message(ctx context.Context, args map[string]string) (string, error) {
	if err := checkArgs(args, protocol.ArgText); err != nil {
		return "", err
	}
	text, err := checkMessage(args[protocol.ArgText])
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	open := m.patronSessions()
	m.mu.Unlock()
	if len(open) == 0 {
		return "", errors.New("no patron session is open")
	}
	var errs []error
	for _, s := range open {
		if err := m.ctl.Message(ctx, s, text); err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", s.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("message: %w", err)
	}
	return fmt.Sprintf("shown in %d session(s)", len(open)), nil
}

// Notify tells every open patron session, at once, what the agent refused
// on the patron's behalf (a download not kept, a program that did not
// start): the patron's notice (protocol.PatronNotice), never a staff
// command. With no patron session open it does nothing.
func (m *Manager) Notify(ctx context.Context, text string) error {
	text, err := checkMessage(text)
	if err != nil {
		return err
	}
	m.mu.Lock()
	open := m.patronSessions()
	m.mu.Unlock()
	var errs []error
	for _, s := range open {
		if err := m.ctl.Notice(ctx, s, text); err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", s.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notice: %w", err)
	}
	return nil
}

// checkMessage validates a staff message and normalises its line ends.
func checkMessage(text string) (string, error) {
	switch {
	case strings.TrimSpace(text) == "":
		return "", fmt.Errorf("%w: text is missing", ErrBadArgs)
	case len(text) > protocol.MaxMessageText:
		return "", fmt.Errorf("%w: text is longer than %d bytes", ErrBadArgs, protocol.MaxMessageText)
	case !utf8.ValidString(text):
		return "", fmt.Errorf("%w: text is not valid UTF-8", ErrBadArgs)
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	for _, r := range text {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			return "", fmt.Errorf("%w: text holds control character %U", ErrBadArgs, r)
		}
	}
	return text, nil
}

// MaxGrace bounds end-session's grace: the countdown and the wait fit well
// inside a command's time limit (the link's default is 2 minutes).
const MaxGrace = protocol.MaxGraceSeconds * time.Second

// EndSession logs a patron session off; the wipe follows through the watcher's
// logoff. args: session (optional: one open patron session id; default all),
// grace (optional: seconds, 0..90, default 0 = at once) during which the
// patron sees a countdown ("This session ends in N s. Save your work.";
// sessions without an overlay get it as a message) before the end. Staff
// sessions are never ended.
func (m *Manager) EndSession(ctx context.Context, args map[string]string) (string, error) {
	if err := checkArgs(args, protocol.ArgSession, protocol.ArgGrace); err != nil {
		return "", err
	}
	grace, err := parseGrace(ctx, args)
	if err != nil {
		return "", err
	}
	pick := func() ([]Session, error) {
		m.mu.Lock()
		open := m.patronSessions()
		m.mu.Unlock()
		if id, ok := args[protocol.ArgSession]; ok {
			i := slices.IndexFunc(open, func(s Session) bool { return s.ID == id })
			if i < 0 {
				return nil, fmt.Errorf("%w: no open patron session %q", ErrBadArgs, oneLine(id, 40))
			}
			open = open[i : i+1]
		}
		if len(open) == 0 {
			return nil, errors.New("no patron session is open")
		}
		return open, nil
	}
	open, err := pick()
	if err != nil {
		return "", err
	}
	if grace > 0 {
		deadline := time.Now().Add(grace)
		for _, s := range open {
			err := m.ctl.Countdown(ctx, s, deadline)
			if errors.Is(err, ErrNotImplemented) {
				err = m.ctl.Message(ctx, s, fmt.Sprintf("This session ends in %d seconds. Save your work.", int(grace/time.Second)))
			}
			if err != nil {
				m.log.Warn("Countdown before end-session not shown", "session", s.ID, "error", err)
			}
		}
		if err := m.sleep(ctx, grace); err != nil {
			return "", fmt.Errorf("end session: stopped during the grace period; no session was ended: %w", err)
		}
		if open, err = pick(); err != nil {
			return "the session(s) ended during the grace period; the wipe follows", nil
		}
	}
	ids := make([]string, len(open))
	for i, s := range open {
		ids[i] = s.ID
	}
	m.desk.endFor(ids, protocol.EndStaff)
	var errs []error
	for _, s := range open {
		if err := m.ctl.Terminate(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", s.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("end session: %w", err)
	}
	return fmt.Sprintf("ended %d session(s); the wipe follows", len(open)), nil
}

// parseGrace reads end-session's grace argument and checks that it fits the
// command's deadline.
func parseGrace(ctx context.Context, args map[string]string) (time.Duration, error) {
	v, ok := args[protocol.ArgGrace]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxGrace {
		return 0, fmt.Errorf("%w: grace %q is not a number of seconds from 0 to %d", ErrBadArgs, oneLine(v, 20), int(MaxGrace/time.Second))
	}
	grace := time.Duration(n) * time.Second
	if dl, ok := ctx.Deadline(); ok && grace > 0 && time.Until(dl) < grace+10*time.Second {
		return 0, fmt.Errorf("%w: grace %d s does not fit the command's time limit", ErrBadArgs, n)
	}
	return grace, nil
}

// WipeNow wipes patron accounts while no patron is logged on, and waits for the
// result: a clean wipe clears a dirty seat. args: user (optional: a patron
// account; default every patron account this PC has seen, or the configured
// ones). It refuses while a patron session is open (use end-session) and never
// wipes a staff account.
func (m *Manager) WipeNow(ctx context.Context, args map[string]string) (string, error) {
	if err := checkArgs(args, protocol.ArgUser); err != nil {
		return "", err
	}
	m.mu.Lock()
	open := len(m.sessions)
	names := slices.Clone(m.ls.Patrons)
	m.mu.Unlock()
	if open > 0 {
		return "", errors.New("a patron session is open; end it first (end-session)")
	}
	if name, ok := args[protocol.ArgUser]; ok {
		if !m.policy.IsPatron(Session{User: name, UID: lookupUID(name)}) {
			return "", fmt.Errorf("%w: %q is not a patron account", ErrBadArgs, oneLine(name, 40))
		}
		names = []string{name}
	}
	if len(names) == 0 {
		for _, n := range m.cfg.PatronUsers {
			if _, err := user.Lookup(n); err == nil {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%w: no patron account known on this PC; pass user=NAME", ErrBadArgs)
	}
	done := make(chan error, len(names))
	m.mu.Lock()
	for _, n := range names {
		m.queue = append(m.queue, wipeJob{user: User{Name: n, UID: lookupUID(n)}, done: done})
		if !slices.Contains(m.ls.Pending, n) {
			m.ls.Pending = append(m.ls.Pending, n)
		}
	}
	m.saveLocked()
	m.recompute()
	m.mu.Unlock()
	m.signal(m.wake)

	var errs []error
	for range names {
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-ctx.Done():
			return "", fmt.Errorf("wipe-now: still running when the command expired: %w", ctx.Err())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("wipe-now: %w", err)
	}
	return fmt.Sprintf("wiped %d account(s): %s", len(names), m.LastWipe()), nil
}

// Reboot restarts the PC. Takes no arguments.
func (m *Manager) Reboot(ctx context.Context, args map[string]string) (string, error) {
	if err := checkArgs(args); err != nil {
		return "", err
	}
	if err := m.power.Reboot(ctx); err != nil {
		return "", fmt.Errorf("reboot: %w", err)
	}
	return "rebooting", nil
}

// Shutdown powers the PC off. Takes no arguments.
func (m *Manager) Shutdown(ctx context.Context, args map[string]string) (string, error) {
	if err := checkArgs(args); err != nil {
		return "", err
	}
	if err := m.power.Shutdown(ctx); err != nil {
		return "", fmt.Errorf("shutdown: %w", err)
	}
	return "shutting down", nil
}

// patronSessions lists open patron sessions by id; m.mu must be held.
func (m *Manager) patronSessions() []Session {
	out := make([]Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func lookupUID(name string) string {
	if u, err := user.Lookup(name); err == nil {
		return u.Uid
	}
	return ""
}
