//go:build linux

package wipe

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
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

func (g *expiryGate) holds() holdFiles { return holdFiles{g.dir} }

func (g *expiryGate) Hold(ctx context.Context, user string) error {
	err := g.holds().saveFirst(user, func() (any, error) {
		prev, err := g.currentExpire(user)
		return gateState{User: user, PrevExpire: prev}, err
	})
	if err != nil {
		return err
	}
	return chage(ctx, user, "1")
}

func (g *expiryGate) Release(ctx context.Context, user string) error {
	var st gateState
	if found, err := g.holds().load(user, &st); err != nil || !found {
		return err // not found: not held by us
	}
	prev := st.PrevExpire
	if prev == "" {
		prev = "-1"
	}
	if err := chage(ctx, user, prev); err != nil {
		return err
	}
	return g.holds().drop(user)
}

// Held reports whether logons of user are held by this gate.
func (g *expiryGate) Held(user string) bool { return g.holds().held(user) }

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
