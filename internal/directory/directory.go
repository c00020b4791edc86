// Package directory signs staff in against the library's directory: LDAP or
// Active Directory, over LDAPS or StartTLS only, with the directory's CA pinned.
//
// The hub binds with its own service account, finds the staff member's entry
// by name, binds as that entry with the password they typed (an empty password
// is refused here, never sent: a simple bind without one is an anonymous bind
// that every server accepts), and maps the groups the entry is in to a Carrel
// role. Check repeats the lookup without a password, so that an account
// disabled, deleted or taken out of its group in the directory is refused at
// its next request. Every operation has a deadline (Config.Timeout, default
// 5 s): a directory that hangs costs a login that long, not the hub's threads.
//
// Disabled means: the entry is gone; Active Directory's userAccountControl has
// ACCOUNTDISABLE (2); OpenLDAP's ppolicy set pwdAccountLockedTime; or the
// entry is in none of the groups mapped to a role.
//
// TOTP is still required for directory accounts: the directory proves the
// password, the hub's own record of the account holds the TOTP secret.
package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Errors callers test with errors.Is.
var (
	ErrBadCredentials = errors.New("directory: wrong user name or password")
	ErrDisabled       = errors.New("directory: account disabled or removed")
	ErrNoRole         = errors.New("directory: account is in no group mapped to a Carrel role")
	ErrUnavailable    = errors.New("directory: unavailable")
)

// RoleGroup maps a directory group (its DN) to a Carrel role name.
type RoleGroup struct {
	Group string
	Role  string
}

// Config says how to reach and read the directory.
type Config struct {
	// URL is ldaps://HOST[:PORT], or ldap://HOST[:PORT], on which StartTLS is
	// required: nothing goes over the wire in clear.
	URL string
	// CAs are the certificates the directory's TLS certificate must chain to
	// (pinned: the system's roots are not used).
	CAs *x509.CertPool
	// ServerName checks the directory's certificate; default the URL's host.
	ServerName string
	// BindDN and BindPassword are the hub's service account, used to find
	// entries and read their groups.
	BindDN, BindPassword string
	// BaseDN is where staff entries are searched.
	BaseDN string
	// UserFilter finds an entry by the name a staff member types; {user} is
	// replaced by the escaped name. Default (uid={user}); Active Directory:
	// (sAMAccountName={user}).
	UserFilter string
	// GroupBaseDN, when set, is searched for groups that list the entry as a
	// member ((|(member={dn})(uniqueMember={dn}))); the entry's memberOf values
	// count too, where the server keeps them (Active Directory does).
	GroupBaseDN string
	// Roles maps groups to roles; the first match in this order wins, so list
	// the stronger role first.
	Roles []RoleGroup
	// Timeout bounds each operation, the dial and TLS handshake included;
	// default 5 s.
	Timeout time.Duration
}

// Identity is what the directory says about a staff member.
type Identity struct {
	DN     string
	Role   string
	Groups []string
}

// Directory is a configured directory; safe for concurrent use. It dials for
// each operation: staff sign-ins are rare, and a fresh connection cannot carry
// a stale bind.
type Directory struct {
	cfg  Config
	addr string
	tls  *tls.Config
	ldap bool // plain ldap:// with StartTLS
}

// New checks cfg and returns a Directory; it does not dial.
func New(cfg Config) (*Directory, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("directory URL %q: want ldaps://HOST[:PORT] or ldap://HOST[:PORT]", cfg.URL)
	}
	d := &Directory{cfg: cfg}
	switch u.Scheme {
	case "ldaps":
		d.addr = hostPort(u, "636")
	case "ldap":
		d.addr, d.ldap = hostPort(u, "389"), true
	default:
		return nil, fmt.Errorf("directory URL %q: the scheme must be ldaps or ldap (with StartTLS)", cfg.URL)
	}
	if cfg.CAs == nil {
		return nil, errors.New("directory: no CA certificate to pin (the directory's TLS certificate must be checked)")
	}
	if cfg.BaseDN == "" {
		return nil, errors.New("directory: no base DN to search for staff")
	}
	if len(cfg.Roles) == 0 {
		return nil, errors.New("directory: no group is mapped to a role")
	}
	for _, r := range cfg.Roles {
		if _, err := ldap.ParseDN(r.Group); err != nil || r.Group == "" {
			return nil, fmt.Errorf("directory: group %q is not a DN", r.Group)
		}
	}
	if d.cfg.UserFilter == "" {
		d.cfg.UserFilter = "(uid={user})"
	}
	if !strings.Contains(d.cfg.UserFilter, "{user}") {
		return nil, fmt.Errorf("directory: user filter %q has no {user}", d.cfg.UserFilter)
	}
	if _, err := ldap.CompileFilter(strings.ReplaceAll(d.cfg.UserFilter, "{user}", "x")); err != nil {
		return nil, fmt.Errorf("directory: user filter %q: %v", d.cfg.UserFilter, err)
	}
	if d.cfg.Timeout <= 0 {
		d.cfg.Timeout = 5 * time.Second
	}
	name := cfg.ServerName
	if name == "" {
		name = u.Hostname()
	}
	d.tls = &tls.Config{RootCAs: cfg.CAs, ServerName: name, MinVersion: tls.VersionTLS12}
	return d, nil
}

func hostPort(u *url.URL, port string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Authenticate checks a staff member's directory password and says their
// role. ErrBadCredentials for a wrong name or password (not which), and
// ErrDisabled, ErrNoRole or ErrUnavailable (wrapped, with the cause).
func (d *Directory) Authenticate(ctx context.Context, user, password string) (Identity, error) {
	if password == "" || user == "" {
		return Identity{}, ErrBadCredentials
	}
	var id Identity
	err := d.with(ctx, func(c *ldap.Conn) error {
		var err error
		if id, err = d.lookup(c, user); err != nil {
			return err
		}
		if err := c.Bind(id.DN, password); err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return ErrBadCredentials
			}
			return fmt.Errorf("%w: bind as the staff member: %v", ErrUnavailable, err)
		}
		return nil
	})
	return id, err
}

// Check says whether the account may still act, and with which role, without
// its password.
func (d *Directory) Check(ctx context.Context, user string) (Identity, error) {
	var id Identity
	err := d.with(ctx, func(c *ldap.Conn) error {
		var err error
		id, err = d.lookup(c, user)
		return err
	})
	return id, err
}

// with dials, secures and binds the service account, runs fn, and closes;
// the whole is bounded by the timeout and ctx.
func (d *Directory) with(ctx context.Context, fn func(*ldap.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	done := make(chan error, 1)
	var conn *ldap.Conn
	connReady := make(chan struct{})
	go func() {
		c, err := d.dial(ctx)
		if err != nil {
			close(connReady)
			done <- err
			return
		}
		conn = c
		close(connReady)
		defer c.Close()
		if d.cfg.BindDN != "" { // else anonymous, where the directory allows searches so
			if err := c.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
				done <- fmt.Errorf("%w: the hub's service account could not bind: %v", ErrUnavailable, err)
				return
			}
		}
		done <- fn(c)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		<-connReady
		if conn != nil {
			conn.Close() // unblocks the goroutine's pending operation
		}
		return fmt.Errorf("%w: no answer within %s", ErrUnavailable, d.cfg.Timeout)
	}
}

func (d *Directory) dial(ctx context.Context) (*ldap.Conn, error) {
	deadline, _ := ctx.Deadline()
	dialer := &net.Dialer{Deadline: deadline}
	raw, err := dialer.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	raw.SetDeadline(deadline) // the handshake and StartTLS; every op is bounded by the timeout too
	var c *ldap.Conn
	if d.ldap {
		c = ldap.NewConn(raw, false)
		c.Start()
		c.SetTimeout(d.cfg.Timeout)
		if err := c.StartTLS(d.tls); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: StartTLS refused or failed (plain LDAP is not used): %v", ErrUnavailable, err)
		}
	} else {
		tc := tls.Client(raw, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("%w: TLS: %v", ErrUnavailable, err)
		}
		c = ldap.NewConn(tc, true)
		c.Start()
		c.SetTimeout(d.cfg.Timeout)
	}
	return c, nil
}

// lookup finds the entry of user and its role, on a connection bound as the
// service account.
func (d *Directory) lookup(c *ldap.Conn, user string) (Identity, error) {
	filter := strings.ReplaceAll(d.cfg.UserFilter, "{user}", ldap.EscapeFilter(user))
	res, err := c.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
		int(d.cfg.Timeout/time.Second), false, filter,
		[]string{"memberOf", "userAccountControl", "pwdAccountLockedTime"}, nil))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: search for the staff member: %v", ErrUnavailable, err)
	}
	switch len(res.Entries) {
	case 0:
		return Identity{}, ErrDisabled
	case 1:
	default:
		return Identity{}, fmt.Errorf("%w: the user filter matches more than one entry", ErrUnavailable)
	}
	e := res.Entries[0]
	if uac, err := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64); err == nil && uac&2 != 0 {
		return Identity{DN: e.DN}, ErrDisabled
	}
	if e.GetAttributeValue("pwdAccountLockedTime") != "" {
		return Identity{DN: e.DN}, ErrDisabled
	}
	id := Identity{DN: e.DN, Groups: e.GetAttributeValues("memberOf")}
	if d.cfg.GroupBaseDN != "" {
		dn := ldap.EscapeFilter(e.DN)
		gs, err := c.Search(ldap.NewSearchRequest(d.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
			int(d.cfg.Timeout/time.Second), false, "(|(member="+dn+")(uniqueMember="+dn+"))", []string{"dn"}, nil))
		if err != nil {
			return Identity{}, fmt.Errorf("%w: search for the staff member's groups: %v", ErrUnavailable, err)
		}
		for _, g := range gs.Entries {
			id.Groups = append(id.Groups, g.DN)
		}
	}
	for _, r := range d.cfg.Roles {
		for _, g := range id.Groups {
			if sameDN(g, r.Group) {
				id.Role = r.Role
				return id, nil
			}
		}
	}
	return id, ErrNoRole
}

func sameDN(a, b string) bool {
	da, err1 := ldap.ParseDN(a)
	db, err2 := ldap.ParseDN(b)
	if err1 != nil || err2 != nil {
		return strings.EqualFold(a, b)
	}
	return da.EqualFold(db)
}
