//go:build linux

package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/carrel-kiosk/carrel/agent/overlay"
)

// NewController returns the Linux controller. It holds logons by expiring the
// patron accounts (usermod --expiredate 1: PAM's account stage then refuses
// every login service, graphical or not) and lets them in again by clearing the
// expiry date; it ends sessions with loginctl. In an X11 session it shows the
// lock, the countdown before end-session and staff messages through the
// session helper (agent/overlay), started as the patron and restarted if it
// dies; other sessions are locked with loginctl lock-session and get messages
// on their terminal (and, under Wayland, through notify-send).
func NewController(log *slog.Logger) Controller {
	return newLinuxController(log, overlay.Options{Log: log.With("component", "session_helper")})
}

func newLinuxController(log *slog.Logger, o overlay.Options) *linuxController {
	return &linuxController{log: log, overlay: overlay.NewSupervisor(o), proc: "/proc", lookupID: user.LookupId}
}

type linuxController struct {
	log      *slog.Logger
	overlay  *overlay.Supervisor
	proc     string                               // /proc, where XAUTHORITY is looked up
	lookupID func(uid string) (*user.User, error) // user.LookupId; replaced in tests
}

var (
	_ Controller   = (*linuxController)(nil)
	_ helperRunner = (*linuxController)(nil)
)

func (c *linuxController) runHelpers(ctx context.Context, sink EventSink) error {
	return c.overlay.Run(ctx, sink)
}

// hasOverlay reports whether the session gets the overlay: an X11 session
// with a local display seen through logind.
// probeLock is the self-test's probe of the session's lock screen.
func (c *linuxController) probeLock(ctx context.Context, s Session, back time.Duration) (time.Duration, error) {
	if !hasOverlay(s) {
		return 0, ErrNoOverlay
	}
	return c.overlay.ProbeLock(ctx, s.ID, back)
}

func hasOverlay(s Session) bool {
	return s.Type == "x11" && s.Display != "" && !strings.HasPrefix(s.ID, "tty:")
}

// target describes the session to the overlay: the patron's uid and primary
// gid, and the X authority file the session's own processes use (or the
// patron's ~/.Xauthority, where startx and LightDM put it).
func (c *linuxController) target(s Session) (overlay.Target, error) {
	if s.UID == "" || s.UID == "0" {
		return overlay.Target{}, fmt.Errorf("session %s: no patron uid", s.ID)
	}
	u, err := c.lookupID(s.UID)
	if err != nil {
		return overlay.Target{}, fmt.Errorf("session %s: look up uid %s: %w", s.ID, s.UID, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return overlay.Target{}, fmt.Errorf("session %s: uid %q gid %q", s.ID, u.Uid, u.Gid)
	}
	t := overlay.Target{Session: s.ID, UID: uint32(uid), GID: uint32(gid), Display: s.Display}
	t.XAuthority = overlay.FindXAuthority(c.proc, t.UID, s.ID, s.Display, int(s.leader))
	if t.XAuthority == "" && u.HomeDir != "" {
		if p := filepath.Join(u.HomeDir, ".Xauthority"); filepath.IsAbs(p) {
			if _, err := os.Lstat(p); err == nil {
				t.XAuthority = p
			}
		}
	}
	return t, nil
}

func (c *linuxController) UnlockSession(ctx context.Context, s Session) error {
	if !hasOverlay(s) {
		return nil // a screen locker stays: the patron unlocks it with their password
	}
	t, err := c.target(s)
	if err != nil {
		return err
	}
	return c.overlay.Lock(ctx, t, false)
}

func (c *linuxController) Countdown(ctx context.Context, s Session, deadline time.Time) error {
	if !hasOverlay(s) {
		return ErrNotImplemented
	}
	t, err := c.target(s)
	if err != nil {
		return err
	}
	return c.overlay.Countdown(ctx, t, deadline)
}

func (c *linuxController) Ended(s Session) { c.overlay.End(s.ID) }

func (c *linuxController) HoldLogons(ctx context.Context, accounts []string, hold bool) error {
	expire := ""
	if hold {
		expire = "1" // 1970-01-02: expired
	}
	var errs []error
	for _, name := range accounts {
		u, err := user.Lookup(name)
		if err != nil {
			continue // configured but not created on this PC
		}
		if u.Uid == "0" {
			continue // never touch root, whatever the configuration says
		}
		if _, err := run(ctx, "usermod", "--expiredate", expire, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LockSession shows the lock overlay in an X11 session. Elsewhere, or when the
// overlay cannot be shown, it asks the session's screen locker through
// loginctl (which does nothing when no locker runs); an overlay failure is
// still returned, so staff see it.
func (c *linuxController) LockSession(ctx context.Context, s Session) error {
	if err := logindID(s); err != nil {
		return err
	}
	var overlayErr error
	if hasOverlay(s) {
		t, err := c.target(s)
		if err == nil {
			err = c.overlay.Lock(ctx, t, true)
		}
		if err == nil {
			return nil
		}
		overlayErr = fmt.Errorf("lock overlay: %w", err)
		c.log.Warn("Lock overlay not shown; asking the screen locker", "session", s.ID, "error", err)
	}
	if _, err := run(ctx, "loginctl", "lock-session", s.ID); err != nil {
		return errors.Join(overlayErr, err)
	}
	return overlayErr
}

func (c *linuxController) Terminate(ctx context.Context, s Session) error {
	if err := logindID(s); err != nil {
		return err
	}
	_, err := run(ctx, "loginctl", "terminate-session", s.ID)
	return err
}

func logindID(s Session) error {
	if strings.HasPrefix(s.ID, "tty:") {
		return fmt.Errorf("session %s was seen through utmp; without logind it cannot be locked or ended: %w", s.ID, ErrNotImplemented)
	}
	if !logindIDRe.MatchString(s.ID) {
		return fmt.Errorf("bad logind session id %q", s.ID)
	}
	return nil
}

var (
	logindIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	ttyRe      = regexp.MustCompile(`^(pts/[0-9]{1,6}|tty[0-9]{1,3}|ttyS[0-9]{1,3})$`)
)

// Message shows text in the overlay of an X11 session; elsewhere it writes it
// to the session's terminal and, for a graphical session (Wayland, or X11
// without a display from logind), shows a notification, and succeeds if either
// way worked.
func (c *linuxController) Message(ctx context.Context, s Session, text string) error {
	if hasOverlay(s) {
		// The session's terminal, if any, is the VT the X server runs on:
		// nobody would see text written there.
		t, err := c.target(s)
		if err == nil {
			err = c.overlay.Message(ctx, t, text)
		}
		if err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		return nil
	}
	var errs []error
	shown := false
	if s.TTY != "" {
		if err := writeTTY("/dev/"+s.TTY, s.TTY, text); err != nil {
			errs = append(errs, err)
		} else {
			shown = true
		}
	}
	if s.Type == "x11" || s.Type == "wayland" {
		if err := notify(ctx, s, text); err != nil {
			errs = append(errs, err)
		} else {
			shown = true
		}
	}
	if shown {
		return nil
	}
	if len(errs) == 0 {
		return fmt.Errorf("session %s has neither a terminal nor a display", s.ID)
	}
	return errors.Join(errs...)
}

// Notice shows text in a corner of an X11 session (the overlay); a Wayland
// session, or X11 without a display from logind, gets a desktop notification.
// A session without a display is not told: a terminal patron ran nothing.
func (c *linuxController) Notice(ctx context.Context, s Session, text string) error {
	if hasOverlay(s) {
		t, err := c.target(s)
		if err == nil {
			err = c.overlay.Notice(ctx, t, text)
		}
		if err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		return nil
	}
	if s.Type == "x11" || s.Type == "wayland" {
		return notifyTitled(ctx, s, "A note from the library", "normal", text)
	}
	return fmt.Errorf("session %s has no display", s.ID)
}

// writeTTY writes a framed message to a terminal device. It opens it without
// becoming its controlling process and without blocking on a stopped terminal.
// text has been checked: no control characters except newlines.
func writeTTY(dev, name, text string) error {
	if !ttyRe.MatchString(name) {
		return fmt.Errorf("refusing terminal %q", name)
	}
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open terminal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat terminal: %w", err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("%s is not a terminal", dev)
	}
	msg := "\r\n\a*** Message from library staff ***\r\n" + strings.ReplaceAll(text, "\n", "\r\n") + "\r\n"
	if _, err := f.WriteString(msg); err != nil {
		return fmt.Errorf("write terminal: %w", err)
	}
	return nil
}

func notify(ctx context.Context, s Session, text string) error {
	return notifyTitled(ctx, s, "Message from library staff", "critical", text)
}

func notifyTitled(ctx context.Context, s Session, title, urgency, text string) error {
	if s.UID == "" || s.User == "" {
		return errors.New("notify: unknown user")
	}
	bus := "unix:path=/run/user/" + s.UID + "/bus"
	_, err := run(ctx, "runuser", "-u", s.User, "--", "env", "DBUS_SESSION_BUS_ADDRESS="+bus,
		"notify-send", "--urgency="+urgency, "--app-name=Carrel", "--", title, text)
	return err
}

// NewPower returns reboot and shutdown through systemctl.
func NewPower() Power { return systemctlPower{} }

type systemctlPower struct{}

func (systemctlPower) Reboot(ctx context.Context) error {
	_, err := run(ctx, "systemctl", "reboot")
	return err
}

func (systemctlPower) Shutdown(ctx context.Context) error {
	_, err := run(ctx, "systemctl", "poweroff")
	return err
}

// run runs a system tool and returns its output; a failure carries the tool's
// own words. Tools are looked up on PATH and then in the sbin directories, which
// a service's PATH may lack.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
			if fi, statErr := os.Stat(dir + "/" + name); statErr == nil && fi.Mode().IsRegular() {
				path, err = dir+"/"+name, nil
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, oneLine(out.String(), 200))
	}
	return out.Bytes(), nil
}

// ShowPatron shows the patron's screen in an X11 session (the overlay).
func (c *linuxController) ShowPatron(ctx context.Context, s Session, lock bool, p overlay.PatronScreen) error {
	if !hasOverlay(s) {
		return fmt.Errorf("session %s: %w (no X11 display)", s.ID, ErrNotImplemented)
	}
	t, err := c.target(s)
	if err != nil {
		return err
	}
	return c.overlay.Patron(ctx, t, lock, p)
}

// PatronInputs delivers what patrons did on the patron screen.
func (c *linuxController) PatronInputs() <-chan overlay.Input { return c.overlay.Inputs() }

// PatronIdle is the idle time the session's helper last reported.
func (c *linuxController) PatronIdle(s Session) (time.Duration, bool) {
	r, ok := c.overlay.Shown(s.ID)
	if !ok || r.Idle == 0 {
		return 0, false
	}
	return time.Duration(r.Idle) * time.Second, true
}
