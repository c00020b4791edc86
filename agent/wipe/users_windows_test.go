//go:build windows

package wipe

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

func TestRIDIn(t *testing.T) {
	dom := "S-1-5-21-11-22-33"
	for _, c := range []struct {
		sid  string
		rid  int
		want bool
	}{
		{"S-1-5-21-11-22-33-1001", 1001, true},
		{"S-1-5-21-11-22-33-500", 500, true},
		{"S-1-5-21-11-22-33-4294967295", 4294967295, true},
		{"S-1-5-21-11-22-330-1001", 0, false}, // another domain that shares a prefix
		{"S-1-5-21-11-22-33-1001-7", 0, false},
		{"S-1-5-21-11-22-33", 0, false}, // the domain itself
		{"S-1-5-21-99-22-33-1001", 0, false},
		{"S-1-5-18", 0, false},
		{"S-1-5-32-544", 0, false},
	} {
		sid, err := windows.StringToSid(c.sid)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := windows.StringToSid(dom)
		rid, ok := ridIn(sid, d)
		if ok != c.want || rid != c.rid {
			t.Errorf("ridIn(%s) = %d %v, want %d %v", c.sid, rid, ok, c.rid, c.want)
		}
	}
}

// TestAccountDomainWindows: NetUserModalsGet level 2 names this computer's
// account domain, and the test's own SID maps to a RID and back.
func TestAccountDomainWindows(t *testing.T) {
	dom, name, err := accountDomain()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("account domain %s (%s)", name, dom)
	if !strings.HasPrefix(dom.String(), "S-1-5-21-") {
		t.Fatalf("account domain SID %s", dom)
	}
	me, rid, _ := currentUser(t)
	back, err := sidOfUID(rid)
	if err != nil || !back.Equals(me) {
		t.Fatalf("sidOfUID(%d) = %v %v, want %s", rid, back, err, me)
	}
	if _, err := sidOfUID(-1); err == nil {
		t.Fatal("sidOfUID(-1) succeeded")
	}
}

// TestLookupCurrentUserWindows looks the test's own account up for real:
// LookupAccountName, NetUserGetLocalGroups, the ProfileList entry. Under Wine the
// user is a member of Administrators, so Lookup must refuse it.
func TestLookupCurrentUserWindows(t *testing.T) {
	me, rid, name := currentUser(t)
	a, err := describeAccount(me, windows.SidTypeUser)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != name || a.UID != rid || len(a.Groups) == 0 {
		t.Fatalf("describeAccount = %+v, want name %s uid %d and groups", a, name, rid)
	}
	prof, err := ProfileDir(me.String())
	if err != nil {
		t.Fatalf("ProfileDir: %v", err)
	}
	if want := os.Getenv("USERPROFILE"); !strings.EqualFold(prof, want) {
		t.Fatalf("ProfileDir = %s, USERPROFILE = %s", prof, want)
	}
	admin, err := isAdministrator(a.Groups)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: SID %s, RID %d, groups %v, profile %s, administrator %v", name, me, rid, a.Groups, prof, admin)
	var users samUsers
	byName, err1 := users.Lookup(name)
	byUID, err2 := users.LookupUID(rid)
	if admin {
		for _, err := range []error{err1, err2} {
			if !errors.Is(err, errNotPatronAccount) || !strings.Contains(err.Error(), "Administrators") {
				t.Fatalf("an administrator was not refused: %v", err)
			}
		}
		return
	}
	if err1 != nil || err2 != nil {
		t.Fatalf("Lookup: %v; LookupUID: %v", err1, err2)
	}
	if byName.Home != prof || byName.UID != rid || !slices.Equal(byName.Groups, byUID.Groups) || byUID.Name != byName.Name {
		t.Fatalf("Lookup = %+v, LookupUID = %+v", byName, byUID)
	}
}

func TestLookupRefusesNonPatronsWindows(t *testing.T) {
	var users samUsers
	for _, name := range []string{"Administrators", "SYSTEM", "Users"} {
		if _, err := users.Lookup(name); !errors.Is(err, errNotPatronAccount) {
			t.Errorf("Lookup(%s) = %v, want a refusal", name, err)
		}
	}
	if _, err := users.Lookup("carrel-no-such-account"); err == nil {
		t.Error("Lookup of a missing account succeeded")
	}
	for _, rid := range []int{500, 501, 503} { // Administrator, Guest, DefaultAccount
		if a, err := users.LookupUID(rid); err == nil {
			t.Errorf("LookupUID(%d) = %+v, want an error", rid, a)
		}
	}
}

// TestWipeRefusesAdministratorWindows: the engine with the real user database
// refuses the Wine user (an administrator) before touching anything.
func TestWipeRefusesAdministratorWindows(t *testing.T) {
	me, _, name := currentUser(t)
	a, err := describeAccount(me, windows.SidTypeUser)
	if err != nil {
		t.Fatal(err)
	}
	if admin, err := isAdministrator(a.Groups); err != nil || !admin {
		t.Skipf("the test's account is not an administrator here (%v)", err)
	}
	root := tempDir(t)
	cfg := Config{PatronUsers: []string{name}, TemplateDir: root + `\template`, JournalDir: root + `\journal`,
		TempDirs: []string{}, PrintSpoolDirs: []string{}, ProtectedDirs: []string{root + `\state`}}
	g := &memGate{}
	e, err := New(cfg, nil, nil, WithGate(g), WithKiller(tokenKiller{under: 1<<32 - 1}))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.Wipe(context.Background(), Scope{User: name})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "Administrators") {
		t.Fatalf("Wipe of an administrator: %v (%+v)", err, rep)
	}
	if g.isHeld(name) || exists(root+`\journal`) {
		t.Fatal("a refused wipe touched the gate or the journal")
	}
}
