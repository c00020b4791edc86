package directory

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// FileName is the directory settings file in the hub's data directory; the
// hub reads it at start when it exists.
const FileName = "directory.toml"

// fileConfig is directory.toml. Secrets are not in it: the service account's
// password is in a file of its own (bind_password_file), readable by the hub
// only.
type fileConfig struct {
	URL              string `toml:"url"`
	CAFile           string `toml:"ca_file"`
	ServerName       string `toml:"server_name"`
	BindDN           string `toml:"bind_dn"`
	BindPasswordFile string `toml:"bind_password_file"`
	BaseDN           string `toml:"base_dn"`
	UserFilter       string `toml:"user_filter"`
	GroupBaseDN      string `toml:"group_base_dn"`
	Timeout          string `toml:"timeout"`
	Roles            []struct {
		Group string `toml:"group"`
		Role  string `toml:"role"`
	} `toml:"roles"`
}

// Example is a directory.toml for Active Directory, for the README and
// `carrel-hub directory --help`.
const Example = `# <data>/directory.toml: staff sign in with their directory password (and a TOTP code).
url = "ldaps://dc1.library.example:636"        # or ldap://HOST:389, where StartTLS is required
ca_file = "/etc/carrel-hub/directory-ca.pem"    # the directory's CA, pinned
bind_dn = "CN=carrel-hub,OU=Service Accounts,DC=library,DC=example"
bind_password_file = "/etc/carrel-hub/directory.password"  # 0600, the hub's only
base_dn = "OU=Staff,DC=library,DC=example"
user_filter = "(sAMAccountName={user})"         # OpenLDAP: (uid={user})
# group_base_dn = "OU=Groups,DC=library,DC=example"  # where groups list members (OpenLDAP); AD's memberOf is read anyway
timeout = "5s"

[[roles]]                                        # the first group that matches wins
group = "CN=Carrel Admins,OU=Groups,DC=library,DC=example"
role = "admin"

[[roles]]
group = "CN=Circulation Desk,OU=Groups,DC=library,DC=example"
role = "desk"
`

// LoadFile reads a directory.toml and returns its Config. Unknown keys, a
// missing CA or password file, and a bad timeout are errors that name the key.
func LoadFile(path string) (Config, error) {
	var f fileConfig
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("%s: unknown setting %s", path, strings.Join(keys, ", "))
	}
	cfg := Config{URL: f.URL, ServerName: f.ServerName, BindDN: f.BindDN, BaseDN: f.BaseDN,
		UserFilter: f.UserFilter, GroupBaseDN: f.GroupBaseDN}
	if f.CAFile == "" {
		return Config{}, fmt.Errorf("%s: ca_file is missing (the directory's CA certificate, PEM)", path)
	}
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return Config{}, fmt.Errorf("%s: ca_file: %w", path, err)
	}
	cfg.CAs = x509.NewCertPool()
	if !cfg.CAs.AppendCertsFromPEM(pem) {
		return Config{}, fmt.Errorf("%s: ca_file %s holds no PEM certificate", path, f.CAFile)
	}
	if f.BindPasswordFile != "" {
		pw, err := os.ReadFile(f.BindPasswordFile)
		if err != nil {
			return Config{}, fmt.Errorf("%s: bind_password_file: %w", path, err)
		}
		cfg.BindPassword = strings.TrimRight(string(pw), "\r\n")
		if cfg.BindPassword == "" {
			return Config{}, fmt.Errorf("%s: bind_password_file %s is empty", path, f.BindPasswordFile)
		}
	} else if f.BindDN != "" {
		return Config{}, errors.New(path + ": bind_dn is set without bind_password_file")
	}
	if f.Timeout != "" {
		d, err := time.ParseDuration(f.Timeout)
		if err != nil || d <= 0 || d > time.Minute {
			return Config{}, fmt.Errorf("%s: timeout %q: want a duration like 5s, at most 1m", path, f.Timeout)
		}
		cfg.Timeout = d
	}
	for _, r := range f.Roles {
		if r.Role != "admin" && r.Role != "desk" {
			return Config{}, fmt.Errorf("%s: role %q of group %q: want admin or desk", path, r.Role, r.Group)
		}
		cfg.Roles = append(cfg.Roles, RoleGroup{Group: r.Group, Role: r.Role})
	}
	return cfg, nil
}
