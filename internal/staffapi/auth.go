package staffapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// Staff logins: a password (argon2id) and a TOTP code (RFC 6238, 30 s steps, one
// step of skew either way) that is accepted once: the last accepted step is
// stored per account and a step at or below it is refused.

// SetupCodeFile is the one-time first-run code in the data directory.
const SetupCodeFile = "setup-code"

// Password rules for staff accounts.
const (
	MinPassword = 10
	MaxPassword = 256
	maxUserName = 64
)

// The generic answers: a login never says which part was wrong.
const (
	MsgLoginFailed = "login failed: user name, password or code is wrong"
	MsgLoginWait   = "too many login attempts; wait and try again"
)

// ArgonParams are the argon2id cost parameters. The encoded hash carries them, so
// raising them later leaves existing hashes verifiable.
type ArgonParams struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon is OWASP's first recommendation (2024): m=19 MiB, t=2, p=1.
var DefaultArgon = ArgonParams{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	argonSalt = 16
	argonKey  = 32
)

var b64 = base64.RawStdEncoding

// hashPassword encodes an argon2id hash in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH.
func hashPassword(pw string, p ArgonParams) string {
	salt := make([]byte, argonSalt)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, argonKey)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errBadHash = errors.New("malformed password hash")

// checkPassword verifies pw against an encoded hash with the parameters the hash
// names (bounded, so a bad row cannot make the hub allocate without limit).
func checkPassword(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, errBadHash
	}
	var p ArgonParams
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return false, errBadHash
	}
	if p.Memory < 8 || p.Memory > 1<<20 || p.Time < 1 || p.Time > 16 || threads < 1 || threads > 16 {
		return false, errBadHash
	}
	p.Threads = uint8(threads)
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpStep returns the 30-second step whose code is code, looking one step either
// side of now, or false.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / 30
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

func newTOTP(user string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Carrel", AccountName: user, Period: 30, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("generate totp secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// checkUserName refuses names a person could not tell apart on screen.
func checkUserName(u string) error {
	if u == "" || len(u) > maxUserName || !utf8.ValidString(u) {
		return fmt.Errorf("user name must be 1 to %d bytes of UTF-8", maxUserName)
	}
	for _, r := range u {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_' || r == '@') {
			return errors.New("user name may hold letters, digits, '.', '-', '_' and '@' only")
		}
	}
	return nil
}

func checkNewPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < MinPassword || len(pw) > MaxPassword || !utf8.ValidString(pw) {
		return fmt.Errorf("password must be %d to %d characters", MinPassword, MaxPassword)
	}
	return nil
}

// CreateStaff makes a staff account and returns its TOTP secret and otpauth URI,
// shown once. firstOnly makes it the first-run setup: it fails with
// store.ErrSetupClosed once any account exists. Any leftover setup code is
// removed, since setup is closed from now on. Used by the hub and by 'carrel-hub
// admin create'.
func CreateStaff(ctx context.Context, st *store.Store, dataDir, user, password string, role protocol.Role, actor string, firstOnly bool) (protocol.SetupResponse, error) {
	return createStaff(ctx, st, dataDir, user, password, role, actor, firstOnly, DefaultArgon)
}

// CreateStaff makes a staff account as CreateStaff does, with the server's
// hash cost (its Config.Argon) and without first-run semantics.
func (srv *Server) CreateStaff(ctx context.Context, user, password string, role protocol.Role, actor string) (protocol.SetupResponse, error) {
	return createStaff(ctx, srv.store, srv.cfg.DataDir, user, password, role, actor, false, srv.cfg.Argon)
}

func createStaff(ctx context.Context, st *store.Store, dataDir, user, password string, role protocol.Role, actor string, firstOnly bool, p ArgonParams) (protocol.SetupResponse, error) {
	if err := checkUserName(user); err != nil {
		return protocol.SetupResponse{}, fmt.Errorf("create staff: %w", err)
	}
	if err := checkNewPassword(password); err != nil {
		return protocol.SetupResponse{}, fmt.Errorf("create staff: %w", err)
	}
	if !role.Valid() {
		return protocol.SetupResponse{}, fmt.Errorf("create staff: role must be desk or admin, not %q", role)
	}
	secret, uri, err := newTOTP(user)
	if err != nil {
		return protocol.SetupResponse{}, err
	}
	a := store.StaffAccount{User: user, Role: string(role), Password: hashPassword(password, p), TOTPSecret: secret}
	if err := st.CreateStaff(ctx, a, actor, firstOnly); err != nil {
		return protocol.SetupResponse{}, err
	}
	if dataDir != "" {
		os.Remove(filepath.Join(dataDir, SetupCodeFile))
	}
	return protocol.SetupResponse{User: user, TOTPSecret: secret, TOTPURI: uri}, nil
}

// ResetTOTP gives an existing account a new TOTP secret and returns it and its
// otpauth URI, shown once: the way back in for someone who lost their
// authenticator. The account's sessions end and its lock is cleared; the store
// audits it as actor. Used by 'carrel-hub admin reset-totp' on the hub's
// machine.
func ResetTOTP(ctx context.Context, st *store.Store, user, actor string) (protocol.SetupResponse, error) {
	a, err := st.StaffByName(ctx, user)
	if err != nil {
		return protocol.SetupResponse{}, err
	}
	secret, uri, err := newTOTP(a.User)
	if err != nil {
		return protocol.SetupResponse{}, err
	}
	if err := st.ResetTOTP(ctx, a.User, secret, actor); err != nil {
		return protocol.SetupResponse{}, err
	}
	return protocol.SetupResponse{User: a.User, TOTPSecret: secret, TOTPURI: uri}, nil
}

var setupEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ensureSetupCode writes a fresh one-time setup code (0600) when no staff account
// exists and none is waiting, and removes a stale one once accounts exist.
func (srv *Server) ensureSetupCode(ctx context.Context) error {
	path := filepath.Join(srv.cfg.DataDir, SetupCodeFile)
	n, err := srv.store.StaffCount(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		os.Remove(path)
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b := make([]byte, 20)
	rand.Read(b)
	code := setupEncoding.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write setup code: %w", err)
	}
	if _, err := f.WriteString(code + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write setup code: %w", err)
	}
	return f.Close()
}

// SetupCode is the waiting one-time setup code, or "" once a staff account
// exists.
func (srv *Server) SetupCode() string {
	b, err := os.ReadFile(filepath.Join(srv.cfg.DataDir, SetupCodeFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func normCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}

// maxLoginBody bounds the setup and login bodies.
const maxLoginBody = 4 << 10

func readStaffBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody+1))
	if err != nil {
		return fmt.Errorf("request body unreadable or larger than %d bytes", maxLoginBody)
	}
	return protocol.DecodeJSON(body, maxLoginBody, v)
}

// decodeLogin strictly decodes a login request body.
func decodeLogin(body []byte) (*protocol.LoginRequest, error) {
	var req protocol.LoginRequest
	if err := protocol.DecodeJSON(body, maxLoginBody, &req); err != nil {
		return nil, err
	}
	req.User = strings.TrimSpace(req.User)
	if len(req.User) > maxUserName || len(req.Password) > MaxPassword || len(req.TOTP) > 16 {
		return nil, fmt.Errorf("decode login: %w: field too long", protocol.ErrInvalid)
	}
	return &req, nil
}

// audit writes one audit record. It is written even when ctx (the request's)
// has ended: a refusal is recorded although the client went away.
func (srv *Server) audit(ctx context.Context, actor string, action protocol.AuditAction, target string, detail map[string]string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.store.Audit(ctx, actor, action, target, detail); err != nil {
		srv.log.Error("Audit write failed", "actor", actor, "action", action, "err", err)
	}
}

func (srv *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		wsserve.HTTPError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	ip := wsserve.RemoteIP(r.RemoteAddr)
	var req protocol.SetupRequest
	if err := readStaffBody(w, r, &req); err != nil {
		wsserve.HTTPError(w, http.StatusBadRequest, "malformed setup request")
		return
	}
	actor := "staff:" + truncateActor(req.User)
	refuse := func(code int, why string) {
		srv.auditRefusal(r.Context(), ip, actor, protocol.AuditStaffSetup, map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: " + why})
		srv.log.Warn("Staff setup refused", "remote", ip, "reason", why)
		wsserve.HTTPError(w, code, "setup refused: "+why)
	}
	if !srv.ipLimit.Allow(ip, srv.now()) {
		w.Header().Set("Retry-After", "60")
		refuse(http.StatusTooManyRequests, "too many attempts from this address")
		return
	}
	ctx := r.Context()
	n, err := srv.store.StaffCount(ctx)
	if err != nil {
		srv.log.Error("Store lookup failed", "err", err)
		wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub store unavailable; try again later")
		return
	}
	if n > 0 {
		refuse(http.StatusForbidden, "setup is closed: a staff account exists")
		return
	}
	want := normCode(srv.SetupCode())
	if want == "" || subtle.ConstantTimeCompare([]byte(normCode(req.SetupCode)), []byte(want)) != 1 {
		refuse(http.StatusForbidden, "wrong or missing setup code")
		return
	}
	var resp protocol.SetupResponse
	if werr := srv.withArgon(ctx, func() {
		resp, err = createStaff(ctx, srv.store, srv.cfg.DataDir, strings.TrimSpace(req.User), req.Password, protocol.RoleAdmin, actor, true, srv.cfg.Argon)
	}); werr != nil {
		return // the client went away
	}
	switch {
	case errors.Is(err, store.ErrSetupClosed):
		refuse(http.StatusForbidden, "setup is closed: a staff account exists")
		return
	case err != nil && strings.HasPrefix(err.Error(), "create staff: "):
		wsserve.HTTPError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		srv.log.Error("Staff setup failed", "err", err)
		wsserve.HTTPError(w, http.StatusInternalServerError, "hub error; see the hub's log")
		return
	}
	srv.log.Info("First admin created", "user", resp.User, "remote", ip)
	wsserve.WriteJSON(w, http.StatusOK, resp)
}

func truncateActor(u string) string {
	return protocol.Clip(strings.TrimSpace(u), maxUserName)
}

func (srv *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		wsserve.HTTPError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	ip := wsserve.RemoteIP(r.RemoteAddr)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody+1))
	var req *protocol.LoginRequest
	if err == nil {
		req, err = decodeLogin(body)
	}
	if err != nil {
		if !srv.ipLimit.Allow(ip, srv.now()) {
			w.Header().Set("Retry-After", "60")
			wsserve.HTTPError(w, http.StatusTooManyRequests, MsgLoginWait)
			return
		}
		srv.auditRefusal(r.Context(), ip, "remote:"+ip, protocol.AuditStaffLogin, map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: malformed request"})
		wsserve.HTTPError(w, http.StatusBadRequest, "malformed login request")
		return
	}
	resp, code, why := srv.login(r.Context(), req, ip)
	switch code {
	case http.StatusOK:
		wsserve.WriteJSON(w, http.StatusOK, resp)
	case http.StatusTooManyRequests:
		srv.quiet.Warn("login:"+ip, "Staff login refused", "user", truncateActor(req.User), "remote", ip, "reason", why)
		w.Header().Set("Retry-After", "60")
		wsserve.HTTPError(w, code, MsgLoginWait)
	case http.StatusUnauthorized:
		srv.quiet.Warn("login:"+ip, "Staff login refused", "user", truncateActor(req.User), "remote", ip, "reason", why)
		wsserve.HTTPError(w, code, MsgLoginFailed)
	case http.StatusBadGateway:
		srv.quiet.Warn("login:"+ip, "Staff login refused", "user", truncateActor(req.User), "remote", ip, "reason", why)
		wsserve.HTTPError(w, code, MsgDirectoryDown)
	default:
		wsserve.HTTPError(w, code, "hub error; see the hub's log")
	}
}

// MsgDirectoryDown is what a console is told when the library's directory
// did not answer a directory account's login.
const MsgDirectoryDown = "the library's directory did not answer; try again, or sign in with a local account"

// login checks one attempt and returns the answer, or the HTTP status and the
// reason (for the audit log and the hub's log only; the client gets the generic
// message). Every refusal is audited with the user name tried as the actor.
func (srv *Server) login(ctx context.Context, req *protocol.LoginRequest, ip string) (*protocol.LoginResponse, int, string) {
	now := srv.now()
	user := truncateActor(req.User)
	actor := "staff:" + user
	refuse := func(code int, why string) (*protocol.LoginResponse, int, string) {
		srv.auditRefusal(ctx, ip, actor, protocol.AuditStaffLogin, map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: " + why})
		return nil, code, why
	}
	if !srv.ipLimit.Allow(ip, now) {
		return refuse(http.StatusTooManyRequests, "too many attempts from this address")
	}
	// Attempts from the hub's own machine and from elsewhere are limited and
	// locked apart (see "Lockout" below): a remote flood cannot lock out the
	// admin at the hub's keyboard.
	local := isLocal(ip)
	key := strings.ToLower(user)
	scoped := "remote:" + key
	if local {
		scoped = "local:" + key
	}
	if !srv.userLimit.Allow(scoped, now) {
		return refuse(http.StatusTooManyRequests, "too many attempts for this account")
	}
	a, err := srv.store.StaffByName(ctx, user)
	if errors.Is(err, store.ErrNotFound) || checkUserName(user) != nil {
		// Same work and, after as many failures, the same lockout as for a real
		// account: the answer does not tell which names exist.
		if srv.unknown.locked(scoped, now) {
			return refuse(http.StatusTooManyRequests, "locked after repeated failures (unknown user)")
		}
		if err := srv.withArgon(ctx, func() { checkPassword(req.Password, srv.dummy()) }); err != nil {
			return nil, http.StatusServiceUnavailable, "client gone"
		}
		srv.unknown.fail(scoped, now, srv.cfg.MaxFailures, srv.cfg.Lockout)
		return refuse(http.StatusUnauthorized, "unknown user")
	}
	if err != nil {
		srv.log.Error("Store lookup failed", "err", err)
		return nil, http.StatusServiceUnavailable, "store unavailable"
	}
	actor = "staff:" + a.User
	remoteLocked := now.Before(a.LockedUntil)
	switch {
	case local:
		if until, locked := srv.local.lockedUntil(key, now); locked {
			return refuse(http.StatusTooManyRequests, "account locked until "+until.UTC().Format(time.RFC3339)+" for logins from the hub's machine")
		}
	case remoteLocked:
		return refuse(http.StatusTooManyRequests, "account locked until "+a.LockedUntil.UTC().Format(time.RFC3339))
	}
	var pwOK bool
	if !a.Directory {
		if werr := srv.withArgon(ctx, func() { pwOK, err = checkPassword(req.Password, a.Password) }); werr != nil {
			return nil, http.StatusServiceUnavailable, "client gone"
		}
		if err != nil {
			srv.log.Error("Stored password hash unusable", "user", a.User, "err", err)
		}
	}
	fail := func(why string) (*protocol.LoginResponse, int, string) {
		if local {
			return srv.localFailure(ctx, a.User, key, why, ip, now)
		}
		locked, err := srv.store.LoginFailure(ctx, a.User, why, ip, now, srv.cfg.MaxFailures, srv.cfg.Lockout)
		if err != nil {
			srv.log.Error("Store failed login failed", "user", a.User, "err", err)
		}
		if locked {
			srv.log.Warn("Staff account locked after failed logins", "user", a.User, "remote", ip, "for", srv.cfg.Lockout.String())
		}
		return nil, http.StatusUnauthorized, why
	}
	if a.Disabled {
		return refuse(http.StatusUnauthorized, "account disabled")
	}
	role := a.Role
	if a.Directory {
		r, resp, code, why := srv.directoryLogin(ctx, a, req.Password, fail, refuse)
		if code != 0 {
			return resp, code, why
		}
		role = r
	} else if !pwOK {
		return fail("wrong password")
	}
	step, ok := totpStep(a.TOTPSecret, strings.TrimSpace(req.TOTP), now)
	if !ok {
		return fail("wrong totp code")
	}
	if step <= a.LastStep {
		return fail("totp code already used")
	}
	secret, hash := newSessionSecret()
	expires := now.Add(srv.cfg.SessionTTL)
	switch err := srv.store.LoginSuccess(ctx, a.User, step, hash, now, expires, ip); {
	case errors.Is(err, store.ErrStepUsed):
		return fail("totp code already used")
	case err != nil:
		srv.log.Error("Store login failed", "user", a.User, "err", err)
		return nil, http.StatusServiceUnavailable, "store unavailable"
	}
	srv.unknown.forget(scoped)
	if local {
		srv.local.forget(key)
		if remoteLocked {
			// The store cleared the remote lock with the login, as any login does.
			srv.log.Warn("Staff logged in from the hub's machine while locked for remote logins", "user", a.User, "lockedUntil", a.LockedUntil.UTC().Format(time.RFC3339))
		}
	}
	srv.log.Info("Staff logged in", "user", a.User, "role", role, "directory", a.Directory, "remote", ip)
	return &protocol.LoginResponse{Session: secret, User: a.User, Role: protocol.Role(role), ExpiresAt: expires.UTC()}, http.StatusOK, ""
}

// Lockout: MaxFailures consecutive failed logins of an account lock it for
// Lockout. Failures from the hub's own machine (a loopback address: the
// embedded console, or a console pointed at localhost) are counted apart from
// the rest: remote failures lock remote logins only (in the store, so the lock
// outlives a restart, and `carrel-hub admin unlock` lifts it), and local
// failures lock local logins only (in memory: a restart of the hub lifts it).
// So a flood of wrong passwords from the network cannot keep the admin at the
// hub's keyboard out, and a flood from the hub's machine (which needs a shell
// there) cannot keep remote staff out. Either way a successful login clears
// the account's remote count and lock, as it always has. Behind a reverse
// proxy on the same machine every login would count as local; the local lock
// still holds then.

// isLocal reports whether ip, a request's remote address, is the hub's own
// machine.
func isLocal(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && a.Unmap().IsLoopback()
}

// localFailure counts a failed login of an existing account from the hub's
// machine and audits it as the store does for remote ones.
func (srv *Server) localFailure(ctx context.Context, user, key, why, ip string, now time.Time) (*protocol.LoginResponse, int, string) {
	n, until := srv.local.fail(key, now, srv.cfg.MaxFailures, srv.cfg.Lockout)
	detail := map[string]string{protocol.AuditKeyRemote: ip, protocol.AuditKeyResult: "refused: " + why, protocol.AuditKeyFailures: strconv.Itoa(n)}
	if !until.IsZero() {
		detail[protocol.AuditKeyLockedUntil] = until.UTC().Format(time.RFC3339)
		srv.log.Warn("Staff account locked for logins from the hub's machine after failed logins", "user", user, "remote", ip, "for", srv.cfg.Lockout.String())
	}
	srv.audit(ctx, "staff:"+user, protocol.AuditStaffLogin, "", detail)
	return nil, http.StatusUnauthorized, why
}

func newSessionSecret() (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	s := base64.RawURLEncoding.EncodeToString(b)
	return s, sessionHash(s)
}

func sessionHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func bearer(r *http.Request) string {
	const p = "Bearer "
	v := r.Header.Get("Authorization")
	if len(v) > len(p) && strings.EqualFold(v[:len(p)], p) {
		return strings.TrimSpace(v[len(p):])
	}
	return ""
}

// ErrSessionEnded is any session that is missing, expired, idle too long, or of
// a disabled account.
var ErrSessionEnded = errors.New("session ended; log in again")

// checkSession finds a live session and counts this as its use. An expired one
// is deleted and audited.
func (srv *Server) checkSession(ctx context.Context, secret string, touch bool) (store.Session, error) {
	if secret == "" || len(secret) > 128 {
		return store.Session{}, ErrSessionEnded
	}
	hash := sessionHash(secret)
	s, err := srv.store.SessionByHash(ctx, hash)
	if errors.Is(err, store.ErrNoSession) {
		return s, ErrSessionEnded
	}
	if err != nil {
		return s, err
	}
	now := srv.now()
	why := ""
	switch {
	case s.Disabled:
		why = "account disabled"
	case !now.Before(s.ExpiresAt):
		why = "session expired"
	case now.Sub(s.LastUsed) >= srv.cfg.IdleTimeout:
		why = "session idle too long"
	}
	if why == "" && s.Directory {
		switch role, err := srv.directoryCheck(ctx, s); {
		case errors.Is(err, ErrSessionEnded):
			why = "directory account disabled or out of its group"
		case err != nil:
			return s, err
		default:
			s.Role = role
		}
	}
	if why != "" {
		if err := srv.store.EndSession(ctx, hash, "staff:"+s.User, why); err != nil {
			srv.log.Error("Store end session failed", "user", s.User, "err", err)
		}
		return s, ErrSessionEnded
	}
	if touch {
		if err := srv.store.TouchSession(ctx, hash, now); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (srv *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		wsserve.HTTPError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	secret := bearer(r)
	s, err := srv.checkSession(r.Context(), secret, false)
	if err != nil {
		wsserve.HTTPError(w, http.StatusUnauthorized, ErrSessionEnded.Error())
		return
	}
	if err := srv.store.EndSession(r.Context(), sessionHash(secret), "staff:"+s.User, "ok"); err != nil {
		srv.log.Error("Store logout failed", "user", s.User, "err", err)
		wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub store unavailable; try again later")
		return
	}
	srv.bus.dropSession(sessionHash(secret))
	w.WriteHeader(http.StatusNoContent)
}

// failures counts consecutive failed logins of one kind of key (names that
// are not accounts, so that they lock out like real ones; accounts tried from
// the hub's machine). Bounded; guarded by mu.
type failures struct {
	mu sync.Mutex
	m  map[string]*failCount
}

type failCount struct {
	n     int
	until time.Time
	last  time.Time
}

func (f *failures) locked(key string, now time.Time) bool {
	_, locked := f.lockedUntil(key, now)
	return locked
}

func (f *failures) lockedUntil(key string, now time.Time) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.m[key]
	if c == nil || !now.Before(c.until) {
		return time.Time{}, false
	}
	return c.until, true
}

// fail counts one failure of key. It returns the consecutive failures counted
// and, when this one locks key, until when.
func (f *failures) fail(key string, now time.Time, max int, lock time.Duration) (n int, lockedUntil time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) > 10000 {
		for k, c := range f.m {
			if now.Sub(c.last) > time.Hour && !now.Before(c.until) {
				delete(f.m, k)
			}
		}
	}
	c := f.m[key]
	if c == nil {
		c = &failCount{}
		f.m[key] = c
	}
	c.n++
	c.last = now
	n = c.n
	if c.n >= max {
		c.n = 0
		c.until = now.Add(lock)
		lockedUntil = c.until
	}
	return n, lockedUntil
}

func (f *failures) forget(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}
