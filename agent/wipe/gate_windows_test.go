//go:build windows

package wipe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fakeSAM stands in for NetUserGetInfo/NetUserSetInfo.
type fakeSAM struct {
	flag map[string]uint32
	sets int
	fail error
}

func (s *fakeSAM) flags(user string) (uint32, error) {
	f, ok := s.flag[user]
	if !ok {
		return 0, errors.New("no such account")
	}
	return f, nil
}

func (s *fakeSAM) setFlags(user string, f uint32) error {
	if s.fail != nil {
		return s.fail
	}
	s.sets++
	s.flag[user] = f
	return nil
}

// TestDisableGateLogic runs Hold and Release against a fake SAM: the disable
// flag is set and cleared without touching the other flags, both are
// idempotent, an account IT had disabled stays disabled, and the saved state
// survives a new gate (an agent restart).
func TestDisableGateLogic(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(tempDir(t), "journal")
	sam := &fakeSAM{flag: map[string]uint32{"patron": ufNormalAccount | ufScript, "off": ufNormalAccount | ufAccountDisable}}
	g := &disableGate{dir: dir, sam: sam}
	if err := g.Hold(ctx, "patron"); err != nil {
		t.Fatal(err)
	}
	if sam.flag["patron"] != ufNormalAccount|ufScript|ufAccountDisable || !g.Held("patron") {
		t.Fatalf("after Hold: flags %#x held %v", sam.flag["patron"], g.Held("patron"))
	}
	if err := g.Hold(ctx, "patron"); err != nil || sam.sets != 1 {
		t.Fatalf("second Hold: %v, %d sets", err, sam.sets)
	}
	g2 := &disableGate{dir: dir, sam: sam} // the agent restarted
	if err := g2.Release(ctx, "patron"); err != nil {
		t.Fatal(err)
	}
	if sam.flag["patron"] != ufNormalAccount|ufScript || g2.Held("patron") {
		t.Fatalf("after Release: flags %#x held %v", sam.flag["patron"], g2.Held("patron"))
	}
	if err := g2.Release(ctx, "patron"); err != nil || sam.sets != 2 {
		t.Fatalf("second Release: %v, %d sets", err, sam.sets)
	}
	// disabled by IT before: stays disabled
	if err := g.Hold(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if err := g.Release(ctx, "off"); err != nil {
		t.Fatal(err)
	}
	if sam.flag["off"]&ufAccountDisable == 0 || sam.sets != 2 {
		t.Fatalf("an account disabled before the hold was enabled: %#x, %d sets", sam.flag["off"], sam.sets)
	}
	// a failing SAM: Hold fails, but the state saved first still says "was enabled"
	sam.fail = errors.New("access denied")
	if err := g.Hold(ctx, "patron"); err == nil {
		t.Fatal("Hold succeeded with a failing SAM")
	}
	sam.fail = nil
	if err := g.Hold(ctx, "patron"); err != nil {
		t.Fatal(err)
	}
	if err := g.Release(ctx, "patron"); err != nil || sam.flag["patron"]&ufAccountDisable != 0 {
		t.Fatalf("Release after a failed Hold: %v, %#x", err, sam.flag["patron"])
	}
	// corrupt state keeps logons held
	if err := os.WriteFile(g.holds().path("patron"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	sam.flag["patron"] |= ufAccountDisable
	if err := g.Release(ctx, "patron"); err == nil || sam.flag["patron"]&ufAccountDisable == 0 {
		t.Fatalf("Release with corrupt state: %v, %#x", err, sam.flag["patron"])
	}
	for _, bad := range []string{"", "..", `a\b`, "a/b", "a:b", "x*", "a\x00b"} {
		if err := g.Hold(ctx, bad); err == nil {
			t.Errorf("Hold(%q) succeeded", bad)
		}
	}
}

// TestNetapiFlagsWindows reads the test account's flags for real
// (NetUserGetInfo level 1), the read half of the gate.
func TestNetapiFlagsWindows(t *testing.T) {
	_, _, name := currentUser(t)
	f, err := netapiSAM{}.flags(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flags of %s: %#x", name, f)
	if _, err := (netapiSAM{}).flags("carrel-no-such-account"); err == nil {
		t.Fatal("flags of a missing account")
	}
}

// TestDisableGateWindows disables and re-enables a real account through
// NetUserSetInfo level 1008. It needs real Windows and an elevated test: it
// creates a throwaway local account (NetUserAdd) and deletes it afterwards; it
// never touches the test's own account.
func TestDisableGateWindows(t *testing.T) {
	if underWine() {
		t.Skip("Wine 8 does not implement netapi32.NetUserSetInfo (calling it aborts the whole process: \"unimplemented function netapi32.dll.NetUserSetInfo\"): the hold and release are only compiled here; TestDisableGateLogic covers their logic with a fake SAM")
	}
	ctx := context.Background()
	b := make([]byte, 4)
	rand.Read(b)
	name := "carrel-t" + hex.EncodeToString(b)
	pw := make([]byte, 16)
	rand.Read(pw)
	n16, _ := windows.UTF16PtrFromString(name)
	p16, _ := windows.UTF16PtrFromString("Aa1!" + hex.EncodeToString(pw))
	ui := userInfo1{Name: n16, Password: p16, Priv: userPrivUser, Flags: ufScript | ufNormalAccount}
	if err := netUserAdd(nil, 1, (*byte)(unsafe.Pointer(&ui)), nil); err != nil {
		t.Skipf("cannot create a test account (run the test elevated): %v", err)
	}
	t.Cleanup(func() {
		if err := netUserDel(nil, n16); err != nil {
			t.Errorf("delete test account %s: %v", name, err)
		}
	})
	g := &disableGate{dir: filepath.Join(tempDir(t), "journal"), sam: netapiSAM{}}
	for range 2 {
		if err := g.Hold(ctx, name); err != nil {
			t.Fatal(err)
		}
		if f, err := (netapiSAM{}).flags(name); err != nil || f&ufAccountDisable == 0 || f&ufNormalAccount == 0 {
			t.Fatalf("after Hold: %#x %v", f, err)
		}
	}
	if err := g.Release(ctx, name); err != nil {
		t.Fatal(err)
	}
	if f, err := (netapiSAM{}).flags(name); err != nil || f&ufAccountDisable != 0 {
		t.Fatalf("after Release: %#x %v", f, err)
	}
	if err := g.Hold(ctx, "carrel-no-such-account"); err == nil || !strings.Contains(err.Error(), "NetUserGetInfo") {
		t.Fatalf("Hold of a missing account: %v", err)
	}
}

// TestFlushSAMWindows flushes HKLM\SAM for real (RegFlushKey), as setFlags does
// after every change.
func TestFlushSAMWindows(t *testing.T) {
	if err := flushSAM(); err != nil {
		if underWine() {
			t.Skipf("Wine's registry has no HKLM\\SAM to flush: %v", err)
		}
		t.Fatal(err)
	}
}

// TestPatronGate: the session manager's gate disables patron accounts only.
// Under Wine the account lookups are real (Wine's user is an administrator, so
// it is refused before the SAM is touched; a name that does not exist is
// nothing to hold); the SAM is the fake, since Wine lacks NetUserSetInfo.
func TestPatronGate(t *testing.T) {
	ctx := context.Background()
	sam := &fakeSAM{flag: map[string]uint32{"patron": ufNormalAccount}}
	g := &patronGate{inner: &disableGate{dir: filepath.Join(tempDir(t), "journal"), sam: sam}, describe: describeByName}

	_, _, me := currentUser(t)
	if err := g.Hold(ctx, me); err == nil || !errors.Is(err, errNotPatronAccount) {
		t.Fatalf("Hold of the administrator %q: %v; want refused", me, err)
	}
	if err := g.Hold(ctx, "carrel-no-such-account"); err != nil {
		t.Fatalf("Hold of an account that does not exist: %v", err)
	}
	if sam.sets != 0 {
		t.Fatalf("the SAM was written %d times", sam.sets)
	}

	g.describe = func(name string) (Account, bool, error) {
		switch name {
		case "patron":
			return Account{Name: name, UID: 1001, Groups: []string{"Users"}}, true, nil
		case "Guest":
			return Account{Name: name, UID: 501, Groups: []string{"Guests"}}, true, nil
		}
		return Account{}, false, nil
	}
	if err := g.Hold(ctx, "Guest"); !errors.Is(err, errNotPatronAccount) {
		t.Fatalf("Hold of a built-in account: %v", err)
	}
	if err := g.Hold(ctx, "patron"); err != nil || sam.flag["patron"]&ufAccountDisable == 0 {
		t.Fatalf("Hold of a patron: %v, flags %#x", err, sam.flag["patron"])
	}
	if err := g.Release(ctx, "patron"); err != nil || sam.flag["patron"] != ufNormalAccount {
		t.Fatalf("Release: %v, flags %#x", err, sam.flag["patron"])
	}
}
