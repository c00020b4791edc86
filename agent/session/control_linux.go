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
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// NewController returns the Linux controller. It holds logons by expiring the
// patron accounts (usermod --expiredate 1: PAM's account stage then refuses
// every login service, graphical or not) and lets them in again by clearing the
// expiry date; it locks and ends sessions with loginctl, and shows messages on
// the session's terminal and, for graphical sessions, with notify-send on the
// user's session bus.
func NewController(log *slog.Logger) Controller { return &linuxController{log: log} }

type linuxController struct {
	log *slog.Logger
}

var _ Controller = (*linuxController)(nil)

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

func (c *linuxController) LockSession(ctx context.Context, s Session) error {
	if err := logindID(s); err != nil {
		return err
	}
	_, err := run(ctx, "loginctl", "lock-session", s.ID)
	return err
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

// Message writes text to the session's terminal and, for a graphical session,
// shows a notification. It succeeds if either way worked.
func (c *linuxController) Message(ctx context.Context, s Session, text string) error {
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
	if s.UID == "" || s.User == "" {
		return errors.New("notify: unknown user")
	}
	bus := "unix:path=/run/user/" + s.UID + "/bus"
	_, err := run(ctx, "runuser", "-u", s.User, "--", "env", "DBUS_SESSION_BUS_ADDRESS="+bus,
		"notify-send", "--urgency=critical", "--app-name=Carrel", "Message from library staff", text)
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
