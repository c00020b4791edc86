//go:build windows

package wipe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// samUsers looks local accounts up in this computer's SAM.
//
// An Account on Windows: Name is the account's name as the SAM spells it
// (without the computer's name), UID is the account's RID, the last
// sub-authority of its SID, within this computer's account domain (the SID is
// that domain's SID followed by the RID, so the uid the engine journals and
// passes to the killer and the purge maps back to exactly one SID), GID is 0
// (unused), Home is ProfileImagePath from the registry's ProfileList with its
// environment variables expanded, and Groups are the names of the local groups
// the account belongs to, directly or through other groups.
//
// Only local accounts can be patrons. Lookup and LookupUID fail (and the wipe is
// refused) for anything else: a domain or Microsoft account, a group, a
// well-known SID (SYSTEM, services), a built-in account (RID below 1000:
// Administrator, Guest, DefaultAccount, WDAGUtilityAccount), a member of
// BUILTIN\Administrators, and an account without a profile on this computer.
// This is the Windows counterpart of min_uid on Linux.
type samUsers struct{}

var _ UserDB = samUsers{}

func newUsers() UserDB { return samUsers{} }

// firstUserRID is the first RID Windows gives an account it creates; lower RIDs
// are the built-in accounts (DOMAIN_USER_RID_ADMIN 500, ...).
const firstUserRID = 1000

// errNotPatronAccount matches every account samUsers will not hand to a wipe.
var errNotPatronAccount = errors.New("not a local patron account")

func notPatron(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errNotPatronAccount, fmt.Sprintf(format, a...))
}

func (samUsers) Lookup(name string) (Account, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return Account{}, fmt.Errorf("look up account %s: bad name", strconv.Quote(name))
	}
	sid, _, typ, err := windows.LookupSID("", name)
	if err != nil {
		return Account{}, fmt.Errorf("look up account %s: %w", strconv.Quote(name), err)
	}
	return accountOf(sid, typ)
}

func (samUsers) LookupUID(uid int) (Account, error) {
	sid, err := sidOfUID(uid)
	if err != nil {
		return Account{}, err
	}
	_, _, typ, err := sid.LookupAccount("")
	if err != nil {
		return Account{}, fmt.Errorf("look up account %s: %w", sid, err)
	}
	return accountOf(sid, typ)
}

// accountOf checks that sid is a local patron-capable account and fills in the
// rest of its Account.
func accountOf(sid *windows.SID, typ uint32) (Account, error) {
	a, err := describeAccount(sid, typ)
	if err != nil {
		return Account{}, err
	}
	if a.UID < firstUserRID {
		return Account{}, notPatron("%s (%s) is a built-in account", strconv.Quote(a.Name), sid)
	}
	admin, err := isAdministrator(a.Groups)
	if err != nil {
		return Account{}, fmt.Errorf("groups of %s: %w", strconv.Quote(a.Name), err)
	}
	if admin {
		return Account{}, notPatron("%s (%s) is a member of BUILTIN\\Administrators", strconv.Quote(a.Name), sid)
	}
	home, err := ProfileDir(sid.String())
	if err != nil {
		return Account{}, fmt.Errorf("account %s has no profile on this computer: %w", strconv.Quote(a.Name), err)
	}
	a.Home = home
	return a, nil
}

// describeAccount returns name, RID and groups of a local user account, without
// the patron policy (tests use it on Wine's user, who is an administrator).
func describeAccount(sid *windows.SID, typ uint32) (Account, error) {
	if typ != windows.SidTypeUser {
		return Account{}, notPatron("%s is not a user account (SID type %d)", sid, typ)
	}
	dom, _, err := accountDomain()
	if err != nil {
		return Account{}, err
	}
	rid, ok := ridIn(sid, dom)
	if !ok {
		return Account{}, notPatron("%s is not an account of this computer (account domain %s)", sid, dom)
	}
	name, _, _, err := sid.LookupAccount("")
	if err != nil {
		return Account{}, fmt.Errorf("look up account %s: %w", sid, err)
	}
	groups, err := localGroups(name)
	if err != nil {
		return Account{}, fmt.Errorf("groups of %s: %w", strconv.Quote(name), err)
	}
	return Account{Name: name, UID: rid, Groups: groups}, nil
}

// ridIn returns the RID of sid when sid is dom's SID followed by one RID.
func ridIn(sid, dom *windows.SID) (int, bool) {
	s, d := sid.String(), dom.String()
	rest, ok := strings.CutPrefix(s, d+"-")
	if !ok || s == "" || d == "" {
		return 0, false
	}
	rid, err := strconv.ParseUint(rest, 10, 32)
	if err != nil || strconv.FormatUint(rid, 10) != rest {
		return 0, false
	}
	return int(rid), true
}

// sidOfUID is the SID of the local account whose RID is uid.
func sidOfUID(uid int) (*windows.SID, error) {
	if uid < 0 || uint64(uid) > 0xFFFFFFFF {
		return nil, fmt.Errorf("uid %d is not a RID", uid)
	}
	dom, _, err := accountDomain()
	if err != nil {
		return nil, err
	}
	sid, err := windows.StringToSid(dom.String() + "-" + strconv.Itoa(uid))
	if err != nil {
		return nil, fmt.Errorf("SID of RID %d: %w", uid, err)
	}
	return sid, nil
}

var domainCache struct {
	sync.Mutex // protects the fields
	sid        *windows.SID
	name       string
}

// accountDomain returns the SID and name of this computer's account domain
// (NetUserModalsGet level 2), where its local accounts live. It is read once.
func accountDomain() (*windows.SID, string, error) {
	domainCache.Lock()
	defer domainCache.Unlock()
	if domainCache.sid != nil {
		return domainCache.sid, domainCache.name, nil
	}
	var buf *byte
	if err := netUserModalsGet(nil, 2, &buf); err != nil {
		return nil, "", fmt.Errorf("read this computer's account domain (NetUserModalsGet): %w", err)
	}
	defer windows.NetApiBufferFree(buf)
	info := (*userModalsInfo2)(unsafe.Pointer(buf))
	if info.DomainID == nil {
		return nil, "", errors.New("read this computer's account domain: no SID")
	}
	sid, err := (*windows.SID)(unsafe.Pointer(info.DomainID)).Copy()
	if err != nil {
		return nil, "", fmt.Errorf("copy account domain SID: %w", err)
	}
	domainCache.sid, domainCache.name = sid, windows.UTF16PtrToString(info.DomainName)
	return domainCache.sid, domainCache.name, nil
}

// localGroups lists the local groups user belongs to, directly or not
// (NetUserGetLocalGroups with LG_INCLUDE_INDIRECT).
func localGroups(user string) ([]string, error) {
	u16, err := windows.UTF16PtrFromString(user)
	if err != nil {
		return nil, err
	}
	var buf *byte
	var read, total uint32
	if err := netUserGetLocalGroups(nil, u16, 0, lgIncludeIndirect, &buf, maxPreferredLength, &read, &total); err != nil {
		return nil, fmt.Errorf("NetUserGetLocalGroups: %w", err)
	}
	if buf == nil {
		return nil, nil
	}
	defer windows.NetApiBufferFree(buf)
	if read != total {
		return nil, fmt.Errorf("NetUserGetLocalGroups returned %d of %d groups", read, total)
	}
	var out []string
	for _, p := range unsafe.Slice((**uint16)(unsafe.Pointer(buf)), read) { // LOCALGROUP_USERS_INFO_0
		out = append(out, windows.UTF16PtrToString(p))
	}
	return out, nil
}

// isAdministrator reports whether one of the local groups is
// BUILTIN\Administrators, compared by SID (the group's name is localised). A
// group that cannot be resolved is an error: the check fails closed.
func isAdministrator(groups []string) (bool, error) {
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return false, err
	}
	for _, g := range groups {
		sid, _, _, err := windows.LookupSID("", g)
		if err != nil {
			return false, fmt.Errorf("look up group %s: %w", strconv.Quote(g), err)
		}
		if sid.Equals(admins) {
			return true, nil
		}
	}
	return false, nil
}
