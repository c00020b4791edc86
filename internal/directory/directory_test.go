package directory

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/slapd"
)

const people = `dn: ou=people,dc=carrel,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=carrel,dc=test
objectClass: organizationalUnit
ou: groups

dn: uid=ann,ou=people,dc=carrel,dc=test
objectClass: inetOrgPerson
uid: ann
cn: Ann Admin
sn: Admin
userPassword: ann-directory-pw

dn: uid=dev,ou=people,dc=carrel,dc=test
objectClass: inetOrgPerson
uid: dev
cn: Dev Desk
sn: Desk
userPassword: dev-directory-pw

dn: uid=sam,ou=people,dc=carrel,dc=test
objectClass: inetOrgPerson
uid: sam
cn: Sam Nogroup
sn: Nogroup
userPassword: sam-directory-pw

dn: uid=hub,ou=people,dc=carrel,dc=test
objectClass: inetOrgPerson
uid: hub
cn: Carrel hub
sn: Hub
userPassword: hub-service-pw

dn: cn=carrel-admins,ou=groups,dc=carrel,dc=test
objectClass: groupOfNames
cn: carrel-admins
member: uid=ann,ou=people,dc=carrel,dc=test

dn: cn=carrel-desk,ou=groups,dc=carrel,dc=test
objectClass: groupOfNames
cn: carrel-desk
member: uid=ann,ou=people,dc=carrel,dc=test
member: uid=dev,ou=people,dc=carrel,dc=test
`

func config(url string, cas *x509.CertPool) Config {
	return Config{URL: url, CAs: cas, BindDN: "uid=hub,ou=people,dc=carrel,dc=test", BindPassword: "hub-service-pw",
		BaseDN: "ou=people,dc=carrel,dc=test", GroupBaseDN: "ou=groups,dc=carrel,dc=test",
		Roles:   []RoleGroup{{"cn=carrel-admins,ou=groups,dc=carrel,dc=test", "admin"}, {"cn=carrel-desk,ou=groups,dc=carrel,dc=test", "desk"}},
		Timeout: 3 * time.Second}
}

// Against a real slapd, over LDAPS and over StartTLS: passwords are checked
// by the directory, groups give roles, and an account taken out of its group
// or deleted is refused at the next check.
func TestDirectoryAgainstSlapd(t *testing.T) {
	srv := slapd.Start(t, people)
	ctx := context.Background()
	for _, url := range []string{srv.LDAPSURL, srv.LDAPURL} {
		d, err := New(config(url, srv.CAPool))
		if err != nil {
			t.Fatal(err)
		}
		id, err := d.Authenticate(ctx, "ann", "ann-directory-pw")
		if err != nil || id.Role != "admin" || id.DN != "uid=ann,ou=people,dc=carrel,dc=test" {
			t.Fatalf("%s: ann: %+v %v", url, id, err)
		}
		if id, err := d.Authenticate(ctx, "dev", "dev-directory-pw"); err != nil || id.Role != "desk" {
			t.Fatalf("%s: dev: %+v %v", url, id, err)
		}
		for _, c := range []struct{ user, pw string }{{"ann", "wrong"}, {"ann", ""}, {"nobody", "x"}, {"ann*", "ann-directory-pw"}, {"*", "x"}} {
			_, err := d.Authenticate(ctx, c.user, c.pw)
			if !errors.Is(err, ErrBadCredentials) && !errors.Is(err, ErrDisabled) {
				t.Fatalf("%s: %q/%q was not refused as bad credentials: %v", url, c.user, c.pw, err)
			}
		}
		if _, err := d.Authenticate(ctx, "sam", "sam-directory-pw"); !errors.Is(err, ErrNoRole) {
			t.Fatalf("%s: sam, in no group: %v", url, err)
		}
	}
	d, _ := New(config(srv.LDAPSURL, srv.CAPool))
	srv.Modify(t, "dn: cn=carrel-desk,ou=groups,dc=carrel,dc=test\nchangetype: modify\ndelete: member\nmember: uid=dev,ou=people,dc=carrel,dc=test\n")
	if _, err := d.Check(ctx, "dev"); !errors.Is(err, ErrNoRole) {
		t.Fatalf("dev out of the desk group: %v", err)
	}
	srv.Modify(t, "dn: uid=ann,ou=people,dc=carrel,dc=test\nchangetype: delete\n")
	if _, err := d.Check(ctx, "ann"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("ann deleted: %v", err)
	}
}

// The CA is pinned: a directory whose certificate another CA signed is not
// talked to, and plain LDAP without StartTLS is never used.
func TestDirectoryRefusesAnUntrustedServer(t *testing.T) {
	srv := slapd.Start(t, people)
	other := x509.NewCertPool() // trusts nothing
	for _, url := range []string{srv.LDAPSURL, srv.LDAPURL} {
		d, err := New(config(url, other))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Authenticate(context.Background(), "ann", "ann-directory-pw"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s with an unpinned CA: %v", url, err)
		}
	}
	for _, bad := range []Config{{URL: "http://x"}, {URL: srv.LDAPSURL}, {URL: srv.LDAPSURL, CAs: srv.CAPool}} {
		if _, err := New(bad); err == nil {
			t.Fatalf("config %+v was accepted", bad)
		}
	}
}

// A directory that accepts connections and never answers costs a login its
// timeout, no more.
func TestDirectoryThatHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	for _, scheme := range []string{"ldaps://", "ldap://"} {
		cfg := config(scheme+l.Addr().String(), x509.NewCertPool())
		cfg.Timeout = 500 * time.Millisecond
		d, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = d.Authenticate(context.Background(), "ann", "pw")
		if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > 3*time.Second {
			t.Fatalf("%s: %v after %s", scheme, err, took)
		}
	}
}
