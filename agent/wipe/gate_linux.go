//go:build linux

package wipe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// expiryGate holds logons by expiring the account (chage -E 1: every PAM
// account check, hence every login, su, ssh and display-manager autologin,
// refuses an expired account) and releases them by restoring the expiry date the
// account had before. The previous date is saved, fsync'd, in the journal dir
// before the account is touched, so a crash never loses it.
type expiryGate struct {
	dir    string // where hold-USER.json files live
	shadow string // /etc/shadow
}

var _ LogonGate = (*expiryGate)(nil)

func newGate(cfg Config) LogonGate {
	return &expiryGate{dir: cfg.JournalDir, shadow: "/etc/shadow"}
}

type gateState struct {
	User       string `json:"user"`
	PrevExpire string `json:"prev_expire"` // days since 1970 as in /etc/shadow; "" = never
}

func (g *expiryGate) statePath(user string) string {
	return filepath.Join(g.dir, "hold-"+user+".json")
}

func (g *expiryGate) Hold(ctx context.Context, user string) error {
	if _, err := os.Stat(g.statePath(user)); errors.Is(err, fs.ErrNotExist) {
		prev, err := g.currentExpire(user)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(gateState{User: user, PrevExpire: prev})
		if err := os.MkdirAll(g.dir, 0o700); err != nil {
			return fmt.Errorf("create gate dir: %w", err)
		}
		if err := writeFileSync(g.statePath(user), b); err != nil {
			return fmt.Errorf("save account expiry: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read gate state: %w", err)
	}
	return chage(ctx, user, "1")
}

func (g *expiryGate) Release(ctx context.Context, user string) error {
	b, err := os.ReadFile(g.statePath(user))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not held by us
	}
	if err != nil {
		return fmt.Errorf("read gate state: %w", err)
	}
	var st gateState
	if err := json.Unmarshal(b, &st); err != nil || st.User != user {
		return fmt.Errorf("gate state of %s is corrupt; logons stay held", user)
	}
	prev := st.PrevExpire
	if prev == "" {
		prev = "-1"
	}
	if err := chage(ctx, user, prev); err != nil {
		return err
	}
	if err := os.Remove(g.statePath(user)); err != nil {
		return fmt.Errorf("remove gate state: %w", err)
	}
	return syncDir(g.dir)
}

// Held reports whether logons of user are held by this gate.
func (g *expiryGate) Held(user string) bool {
	_, err := os.Stat(g.statePath(user))
	return err == nil
}

func chage(ctx context.Context, user, expire string) error {
	out, err := exec.CommandContext(ctx, "chage", "-E", expire, "--", user).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chage -E %s %s: %w: %s", expire, user, err, bytes.TrimSpace(out))
	}
	return nil
}

// currentExpire reads the account expiry field of user from /etc/shadow.
func (g *expiryGate) currentExpire(user string) (string, error) {
	data, err := os.ReadFile(g.shadow)
	if err != nil {
		return "", fmt.Errorf("read shadow: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 8 && f[0] == user {
			return f[7], nil
		}
	}
	return "", fmt.Errorf("account %s is not in %s", user, g.shadow)
}
