//go:build linux

package wipe

import (
	"context"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
)

// osUsers reads accounts through os/user (with CGO_ENABLED=0: /etc/passwd and
// /etc/group).
type osUsers struct{}

var _ UserDB = osUsers{}

func newUsers() UserDB { return osUsers{} }

func (osUsers) Lookup(name string) (Account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Account{}, err
	}
	return toAccount(u)
}

func (osUsers) LookupUID(uid int) (Account, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return Account{}, err
	}
	return toAccount(u)
}

func toAccount(u *user.User) (Account, error) {
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return Account{}, fmt.Errorf("account %s has non-numeric ids", u.Username)
	}
	a := Account{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}
	gids, err := u.GroupIds()
	if err != nil {
		return Account{}, fmt.Errorf("groups of %s: %w", u.Username, err)
	}
	for _, g := range gids {
		if grp, err := user.LookupGroupId(g); err == nil {
			a.Groups = append(a.Groups, grp.Name)
		}
	}
	return a, nil
}

// cupsQueue cancels and purges print jobs with CUPS's cancel(1).
type cupsQueue struct{ cancel string }

func newPrintQueue() PrintQueue {
	p, err := exec.LookPath("cancel")
	if err != nil {
		return nil
	}
	return cupsQueue{cancel: p}
}

func (q cupsQueue) CancelAll(ctx context.Context, user string) error {
	out, err := exec.CommandContext(ctx, q.cancel, "-x", "-u", user).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cancel print jobs of %s: %w: %s", user, err, out)
	}
	return nil
}
