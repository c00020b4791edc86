package staffapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/directory"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// Directory is the library's staff directory (internal/directory's
// *Directory): it checks a directory account's password at login and, at each
// request, that the account is still enabled and in a group mapped to a role.
type Directory interface {
	Authenticate(ctx context.Context, user, password string) (directory.Identity, error)
	Check(ctx context.Context, user string) (directory.Identity, error)
}

// ErrDirectoryDown says the directory did not answer; the session is kept,
// the request is not run.
var ErrDirectoryDown = errors.New("the library's directory is unavailable; try again later")

// DirectoryRecheck is how long a directory's "still enabled, role R" answer
// stands before a request asks it again. An account disabled in the directory
// is refused at its first request after that.
const DirectoryRecheck = 5 * time.Second

// dirCache remembers the directory's recent answers per account.
type dirCache struct {
	mu sync.Mutex
	m  map[string]dirAnswer // by user name
}

type dirAnswer struct {
	role string
	at   time.Time
}

// directoryLogin checks a directory account's password and role for login.
// It returns the role, or the refusal as login does.
func (srv *Server) directoryLogin(ctx context.Context, a store.StaffAccount, password string, fail func(string) (*protocol.LoginResponse, int, string),
	refuse func(int, string) (*protocol.LoginResponse, int, string)) (role string, resp *protocol.LoginResponse, code int, why string) {
	if srv.cfg.Directory == nil {
		resp, code, why = refuse(http.StatusServiceUnavailable, "directory sign-in is not configured on this hub")
		return "", resp, code, why
	}
	id, err := srv.cfg.Directory.Authenticate(ctx, a.User, password)
	switch {
	case err == nil:
	case errors.Is(err, directory.ErrBadCredentials):
		resp, code, why = fail("wrong password")
		return "", resp, code, why
	case errors.Is(err, directory.ErrDisabled), errors.Is(err, directory.ErrNoRole):
		resp, code, why = refuse(http.StatusUnauthorized, "directory account disabled or in no Carrel group")
		return "", resp, code, why
	default:
		srv.log.Warn("Directory sign-in failed", "user", a.User, "err", err)
		resp, code, why = refuse(http.StatusBadGateway, "the library's directory is unavailable")
		return "", resp, code, why
	}
	if !protocol.Role(id.Role).Valid() {
		resp, code, why = refuse(http.StatusUnauthorized, "the directory group maps to no valid role")
		return "", resp, code, why
	}
	srv.dirSeen(ctx, a.User, a.Role, id.Role)
	return id.Role, nil, 0, ""
}

// directoryCheck asks the directory whether a directory account's session
// may still act, and with which role; a recent answer stands for
// DirectoryRecheck. ErrSessionEnded when the directory refuses the account
// now, ErrDirectoryDown when it does not answer.
func (srv *Server) directoryCheck(ctx context.Context, s store.Session) (role string, err error) {
	if srv.cfg.Directory == nil {
		return "", ErrSessionEnded
	}
	now := srv.now()
	srv.dirs.mu.Lock()
	if srv.dirs.m == nil {
		srv.dirs.m = map[string]dirAnswer{}
	}
	ans, ok := srv.dirs.m[s.User]
	srv.dirs.mu.Unlock()
	if ok && now.Sub(ans.at) < DirectoryRecheck && now.Sub(ans.at) >= 0 {
		return ans.role, nil
	}
	id, err := srv.cfg.Directory.Check(ctx, s.User)
	switch {
	case err == nil && protocol.Role(id.Role).Valid():
	case err == nil, errors.Is(err, directory.ErrDisabled), errors.Is(err, directory.ErrNoRole):
		srv.dirs.mu.Lock()
		delete(srv.dirs.m, s.User)
		srv.dirs.mu.Unlock()
		return "", ErrSessionEnded
	default:
		srv.log.Warn("Directory check failed", "user", s.User, "err", err)
		return "", ErrDirectoryDown
	}
	srv.dirSeen(ctx, s.User, s.Role, id.Role)
	return id.Role, nil
}

// dirSeen caches the directory's answer and records a changed role.
func (srv *Server) dirSeen(ctx context.Context, user, stored, role string) {
	srv.dirs.mu.Lock()
	if srv.dirs.m == nil {
		srv.dirs.m = map[string]dirAnswer{}
	}
	srv.dirs.m[user] = dirAnswer{role: role, at: srv.now()}
	srv.dirs.mu.Unlock()
	if stored != role {
		if err := srv.store.SetStaffRole(ctx, user, role, "directory"); err != nil {
			srv.log.Error("Store role change failed", "user", user, "err", err)
		}
		srv.log.Info("Directory gave a staff member another role", "user", user, "was", stored, "now", role)
	}
}

// CreateDirectoryStaff makes an account whose password and role the
// directory holds; the hub keeps its TOTP secret, returned once. The role is
// the directory's from the first login on ("desk" until then).
func CreateDirectoryStaff(ctx context.Context, st *store.Store, dataDir, user, actor string) (protocol.SetupResponse, error) {
	if err := checkUserName(user); err != nil {
		return protocol.SetupResponse{}, err
	}
	secret, uri, err := newTOTP(user)
	if err != nil {
		return protocol.SetupResponse{}, err
	}
	a := store.StaffAccount{User: user, Role: string(protocol.RoleDesk), TOTPSecret: secret, Directory: true}
	if err := st.CreateStaff(ctx, a, actor, false); err != nil {
		return protocol.SetupResponse{}, err
	}
	return protocol.SetupResponse{User: user, TOTPSecret: secret, TOTPURI: uri}, nil
}
