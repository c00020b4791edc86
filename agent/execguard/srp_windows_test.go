//go:build windows

package execguard

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"golang.org/x/sys/windows/registry"
)

// requireSandbox refuses to edit a real machine's policy: these tests run under
// Wine (a throwaway prefix, .ci/wine/gotest.sh) or where the runner opted in.
// Wine stores the keys but does not enforce SRP: that a Disallowed rule stops
// CreateProcess needs a real Windows test machine (2026-11).
func requireSandbox(t *testing.T) {
	t.Helper()
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Wine`, registry.QUERY_VALUE); err == nil {
		k.Close()
		return
	}
	if os.Getenv("CARREL_DESTRUCTIVE_TESTS") == "1" {
		return
	}
	t.Skip("edits HKLM policy: runs under Wine or with CARREL_DESTRUCTIVE_TESTS=1")
}

func readRule(t *testing.T, guid string) (desc, item string, flags uint64, ok bool) {
	t.Helper()
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, disallowedPaths+`\`+guid, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return "", "", 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	desc, _, _ = k.GetStringValue("Description")
	item, vt, err := k.GetStringValue("ItemData")
	if err != nil || vt != registry.EXPAND_SZ {
		t.Errorf("ItemData of %s: type %d, %v; want REG_EXPAND_SZ", guid, vt, err)
	}
	flags, _, err = k.GetIntegerValue("SaferFlags")
	if err != nil {
		t.Errorf("SaferFlags of %s: %v", guid, err)
	}
	if _, _, err := k.GetIntegerValue("LastModified"); err != nil {
		t.Errorf("LastModified of %s: %v", guid, err)
	}
	return desc, item, flags, true
}

func TestSRPRulesWrittenAndRemoved(t *testing.T) {
	requireSandbox(t)
	// IT's own rule, which Carrel must never touch.
	it, _, err := registry.CreateKey(registry.LOCAL_MACHINE, disallowedPaths+`\{00000000-1111-2222-3333-444444444444}`, registry.ALL_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	it.SetStringValue("Description", "IT: block the kiosk share")
	it.SetExpandStringValue("ItemData", `\\server\share`)
	it.SetDWordValue("SaferFlags", 0)
	it.SetQWordValue("LastModified", 1)
	it.Close()
	t.Cleanup(func() {
		registry.DeleteKey(registry.LOCAL_MACHINE, disallowedPaths+`\{00000000-1111-2222-3333-444444444444}`)
	})
	registry.DeleteKey(registry.LOCAL_MACHINE, saferKey) // best effort: start from no defaults (fails while it has subkeys)
	func() {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, saferKey, registry.ALL_ACCESS)
		if err == nil {
			k.DeleteValue("DefaultLevel")
			k.Close()
		}
	}()

	enf, err := NewEnforcer(&eventrec.Recorder{}, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	roots := []string{`C:\Users\patron`, `C:\Users\Public`}
	if err := enf.Apply(roots); err != nil {
		t.Fatal(err)
	}
	for _, r := range roots {
		desc, item, flags, ok := readRule(t, ruleGUID(r))
		if !ok || item != r || flags != 0 || !strings.HasPrefix(desc, "Carrel:") {
			t.Errorf("rule for %s: ok=%v item=%q flags=%d desc=%q", r, ok, item, flags, desc)
		}
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, saferKey, registry.QUERY_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	level, _, err := k.GetIntegerValue("DefaultLevel")
	types, _, terr := k.GetStringsValue("ExecutableTypes")
	k.Close()
	if err != nil || level != levelUnrestricted || terr != nil || len(types) == 0 {
		t.Errorf("defaults: DefaultLevel %x (%v), ExecutableTypes %v (%v)", level, err, types, terr)
	}

	// Applying again is idempotent; a dropped root loses its rule.
	if err := enf.Apply(roots[:1]); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := readRule(t, ruleGUID(roots[1])); ok {
		t.Error("rule for a dropped root still there")
	}
	if _, _, _, ok := readRule(t, ruleGUID(roots[0])); !ok {
		t.Error("rule for a kept root gone")
	}

	if err := enf.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := readRule(t, ruleGUID(roots[0])); ok {
		t.Error("rule still there after Remove")
	}
	if desc, _, _, ok := readRule(t, "{00000000-1111-2222-3333-444444444444}"); !ok || desc != "IT: block the kiosk share" {
		t.Errorf("IT's rule was touched: ok=%v desc=%q", ok, desc)
	}
	k, err = registry.OpenKey(registry.LOCAL_MACHINE, saferKey, registry.QUERY_VALUE)
	if err == nil {
		if _, _, err := k.GetIntegerValue("DefaultLevel"); err == nil {
			t.Error("DefaultLevel that Carrel created is still there after Remove")
		}
		k.Close()
	}
}

func TestSRPKeepsITDefaults(t *testing.T) {
	requireSandbox(t)
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, saferKey, registry.ALL_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	k.DeleteValue(createdMarker)
	k.SetDWordValue("DefaultLevel", 0) // IT runs SRP as an allow list
	k.Close()
	t.Cleanup(func() {
		if k, err := registry.OpenKey(registry.LOCAL_MACHINE, saferKey, registry.ALL_ACCESS); err == nil {
			k.DeleteValue("DefaultLevel")
			k.Close()
		}
	})
	enf, _ := NewEnforcer(&eventrec.Recorder{}, discardLog())
	if err := enf.Apply([]string{`C:\Users\patron`}); err != nil {
		t.Fatal(err)
	}
	if err := enf.Remove(); err != nil {
		t.Fatal(err)
	}
	k, _ = registry.OpenKey(registry.LOCAL_MACHINE, saferKey, registry.QUERY_VALUE)
	defer k.Close()
	if v, _, err := k.GetIntegerValue("DefaultLevel"); err != nil || v != 0 {
		t.Errorf("IT's DefaultLevel changed: %d, %v", v, err)
	}
}

func TestRuleGUIDStable(t *testing.T) {
	a, b := ruleGUID(`C:\Users\Patron`), ruleGUID(`c:\users\patron\`)
	if a != b || len(a) != 38 || a[0] != '{' || a[15] != '5' {
		t.Errorf("ruleGUID: %s %s", a, b)
	}
	if ruleGUID(`C:\Users\Public`) == a {
		t.Error("two roots share a GUID")
	}
}
