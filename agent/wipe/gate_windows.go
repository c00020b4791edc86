//go:build windows

package wipe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// disableGate holds logons by disabling the account (UF_ACCOUNTDISABLE through
// NetUserSetInfo level 1008; every other account flag is kept) and releases them
// by restoring the flag as it was before the first Hold: an account IT had
// disabled stays disabled. Whether the account was disabled is saved, fsync'd,
// in the journal dir before the account is touched; the flag itself lives in
// the SAM, so a hold survives a crash or a power cut until Resume finishes the
// wipe. Like the Linux gate it does not end sessions that are already open.
type disableGate struct {
	dir string   // where hold-USER.json files live
	sam samFlags // the SAM, or a fake in tests
}

var _ LogonGate = (*disableGate)(nil)

func newGate(cfg Config) LogonGate { return &disableGate{dir: cfg.JournalDir, sam: netapiSAM{}} }

// samFlags reads and writes an account's usri1_flags.
type samFlags interface {
	flags(user string) (uint32, error)
	setFlags(user string, flags uint32) error
}

type disableState struct {
	User        string `json:"user"`
	WasDisabled bool   `json:"was_disabled"`
}

func (g *disableGate) holds() holdFiles { return holdFiles{g.dir} }

func (g *disableGate) Hold(ctx context.Context, user string) error {
	if err := checkGateUser(user); err != nil {
		return err
	}
	err := g.holds().saveFirst(user, func() (any, error) {
		f, err := g.sam.flags(user)
		return disableState{User: user, WasDisabled: f&ufAccountDisable != 0}, err
	})
	if err != nil {
		return err
	}
	f, err := g.sam.flags(user)
	if err != nil {
		return err
	}
	if f&ufAccountDisable != 0 {
		return nil
	}
	return g.sam.setFlags(user, f|ufAccountDisable)
}

func (g *disableGate) Release(ctx context.Context, user string) error {
	if err := checkGateUser(user); err != nil {
		return err
	}
	var st disableState
	if found, err := g.holds().load(user, &st); err != nil || !found {
		return err // not found: not held by us
	}
	if !st.WasDisabled {
		f, err := g.sam.flags(user)
		if err != nil {
			return err
		}
		if f&ufAccountDisable != 0 {
			if err := g.sam.setFlags(user, f&^ufAccountDisable); err != nil {
				return err
			}
		}
	}
	return g.holds().drop(user)
}

// Held reports whether logons of user are held by this gate.
func (g *disableGate) Held(user string) bool { return g.holds().held(user) }

// checkGateUser refuses names that cannot be a SAM account name (and so could
// not name a state file safely either).
func checkGateUser(user string) error {
	if user == "" || len(user) > 256 || user == "." || user == ".." {
		return fmt.Errorf("logon gate: bad account name %q", user)
	}
	for _, c := range user {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("logon gate: bad account name %q", user)
		}
		switch c {
		case '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@':
			return fmt.Errorf("logon gate: bad account name %q", user)
		}
	}
	return nil
}

// netapiSAM is the local SAM through netapi32.
type netapiSAM struct{}

func (netapiSAM) flags(user string) (uint32, error) {
	u16, err := windows.UTF16PtrFromString(user)
	if err != nil {
		return 0, err
	}
	var buf *byte
	if err := windows.NetUserGetInfo(nil, u16, 1, &buf); err != nil {
		return 0, fmt.Errorf("read account flags of %s (NetUserGetInfo): %w", user, err)
	}
	defer windows.NetApiBufferFree(buf)
	return (*userInfo1)(unsafe.Pointer(buf)).Flags, nil
}

func (netapiSAM) setFlags(user string, flags uint32) error {
	u16, err := windows.UTF16PtrFromString(user)
	if err != nil {
		return err
	}
	info := flags // USER_INFO_1008{usri1008_flags}
	var parmErr uint32
	if err := netUserSetInfo(nil, u16, 1008, (*byte)(unsafe.Pointer(&info)), &parmErr); err != nil {
		return fmt.Errorf("set account flags of %s (NetUserSetInfo 1008): %w", user, err)
	}
	return flushSAM()
}

// flushSAM writes the SAM hive to disk now (RegFlushKey), rather than when the
// registry's lazy writer gets to it: a hold must survive a power cut that
// follows it. HKLM\SAM opens with READ_CONTROL for SYSTEM and Administrators.
func flushSAM() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, "SAM", windows.READ_CONTROL)
	if err != nil {
		return fmt.Errorf("open HKLM\\SAM to flush it: %w", err)
	}
	defer k.Close()
	if err := regFlushKey(syscall.Handle(k)); err != nil {
		return fmt.Errorf("flush HKLM\\SAM: %w", err)
	}
	return nil
}

// NewPatronGate returns the logon gate the session manager holds patron logons
// with on Windows (a lock, a dirty seat, a wipe): the same account-disable gate
// the engine uses, sharing its state files in cfg.JournalDir, behind the patron
// check. An account that does not exist has nothing to hold; a built-in account
// or a member of Administrators is refused, whatever the policy lists, so a
// misconfigured patron list can never disable an administrator.
func NewPatronGate(cfg Config) LogonGate {
	return &patronGate{inner: &disableGate{dir: cfg.JournalDir, sam: netapiSAM{}}, describe: describeByName}
}

type patronGate struct {
	inner *disableGate
	// describe returns the account's name, RID and groups, found false when
	// there is no such account.
	describe func(name string) (a Account, found bool, err error)
}

func describeByName(name string) (Account, bool, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return Account{}, false, fmt.Errorf("bad account name %s", strconv.Quote(name))
	}
	sid, _, typ, err := windows.LookupSID("", name)
	if errors.Is(err, windows.ERROR_NONE_MAPPED) {
		return Account{}, false, nil
	}
	if err != nil {
		return Account{}, false, fmt.Errorf("look up account %s: %w", strconv.Quote(name), err)
	}
	a, err := describeAccount(sid, typ)
	return a, err == nil, err
}

func (g *patronGate) Hold(ctx context.Context, user string) error {
	a, found, err := g.describe(user)
	if err != nil {
		return fmt.Errorf("hold logons of %s: %w", strconv.Quote(user), err)
	}
	if !found {
		return nil
	}
	if a.UID < firstUserRID {
		return fmt.Errorf("hold logons: %w", notPatron("%s is a built-in account", strconv.Quote(user)))
	}
	admin, err := isAdministrator(a.Groups)
	if err != nil {
		return fmt.Errorf("hold logons of %s: %w", strconv.Quote(user), err)
	}
	if admin {
		return fmt.Errorf("hold logons: %w", notPatron("%s is a member of BUILTIN\\Administrators", strconv.Quote(user)))
	}
	return g.inner.Hold(ctx, user)
}

// Release lets back in only what this gate held (its state file says so).
func (g *patronGate) Release(ctx context.Context, user string) error {
	return g.inner.Release(ctx, user)
}
