//go:build windows

package browserpolicy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"golang.org/x/sys/windows/registry"
)

// tempRoot is t.TempDir for Wine, where os.RemoveAll fails ("Invalid
// function") and would fail the test at cleanup: the directory is removed
// when possible and a failure is only logged.
func tempRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "carrel-browserpolicy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("leaving %s: %v (expected under Wine)", dir, err)
		}
	})
	return dir
}

// newRegManager returns a Manager whose keys live under a test key of their
// own, deleted when the test ends.
func newRegManager(t *testing.T, cfg Config, sink EventSink) (*Manager, string) {
	t.Helper()
	m := New(cfg, tempRoot(t), testLogger(t), sink)
	base := m.policiesBase()
	testKey := base[:strings.LastIndex(base, `\`)]
	t.Cleanup(func() {
		parent, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\CarrelTest`, registry.ALL_ACCESS)
		if err != nil {
			return
		}
		defer parent.Close()
		if err := deleteTree(parent, testKey[strings.LastIndex(testKey, `\`)+1:]); err != nil && !errors.Is(err, registry.ErrNotExist) {
			t.Errorf("delete test key: %v", err)
		}
	})
	return m, base
}

func openKey(t *testing.T, path string) registry.Key {
	t.Helper()
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.ALL_ACCESS)
	if err != nil {
		t.Fatalf("open HKLM\\%s: %v", path, err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func keyExists(path string) bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
}

func wantDWORD(t *testing.T, k registry.Key, name string, want uint32) {
	t.Helper()
	n, typ, err := k.GetIntegerValue(name)
	if err != nil || typ != registry.DWORD || uint32(n) != want {
		t.Errorf("%s = %d (type %d, %v), want DWORD %d", name, n, typ, err, want)
	}
}

func wantSZ(t *testing.T, k registry.Key, name, want string) {
	t.Helper()
	s, typ, err := k.GetStringValue(name)
	if err != nil || typ != registry.SZ || s != want {
		t.Errorf("%s = %q (type %d, %v), want REG_SZ %q", name, s, typ, err, want)
	}
}

func listValues(t *testing.T, path string) []string {
	t.Helper()
	k := openKey(t, path)
	var out []string
	for i := 1; ; i++ {
		s, _, err := k.GetStringValue(strconv.Itoa(i))
		if err != nil {
			break
		}
		out = append(out, s)
	}
	if names, _ := k.ReadValueNames(-1); len(names) != len(out) {
		t.Errorf("%s has values %v, not just 1..%d", path, names, len(out))
	}
	return out
}

func checkRegistryPolicies(t *testing.T, base string, cfg Config) {
	t.Helper()
	chrome := openKey(t, base+`\Google\Chrome`)
	wantDWORD(t, chrome, "DownloadRestrictions", uint32(cfg.DownloadRestrictions))
	wantSZ(t, chrome, "DownloadDirectory", cfg.DownloadDirectory)
	wantDWORD(t, chrome, "PromptForDownloadLocation", 0)
	wantDWORD(t, chrome, "DeveloperToolsAvailability", 2)
	wantDWORD(t, chrome, "IncognitoModeAvailability", 1)
	wantDWORD(t, chrome, "BrowserSignin", 0)
	wantDWORD(t, chrome, "PasswordManagerEnabled", 0)
	wantDWORD(t, chrome, "SyncDisabled", 1)
	if got := listValues(t, base+`\Google\Chrome\ExtensionInstallBlocklist`); !slices.Equal(got, []string{"*"}) {
		t.Errorf("chrome blocklist %v", got)
	}
	if got := listValues(t, base+`\Chromium\ClearBrowsingDataOnExitList`); !slices.Equal(got, clearOnExitTypes) {
		t.Errorf("chromium clear list %v", got)
	}
	edge := openKey(t, base+`\Microsoft\Edge`)
	wantDWORD(t, edge, "InPrivateModeAvailability", 1)
	wantDWORD(t, edge, "ClearBrowsingDataOnExit", 1)
	ff := openKey(t, base+`\Mozilla\Firefox`)
	wantDWORD(t, ff, "DisableDeveloperTools", 1)
	wantDWORD(t, ff, "PromptForDownloadLocation", 0)
	wantDWORD(t, ff, "PrivateBrowsingModeAvailability", 1)
	wantSZ(t, ff, "DownloadDirectory", cfg.FirefoxDownloadDirectory)
	s, _, err := ff.GetStringValue("ExtensionSettings")
	var ext map[string]map[string]string
	if err != nil || json.Unmarshal([]byte(s), &ext) != nil || ext["*"]["installation_mode"] != "blocked" {
		t.Errorf("ExtensionSettings = %q %v", s, err)
	}
	san := openKey(t, base+`\Mozilla\Firefox\SanitizeOnShutdown`)
	wantDWORD(t, san, "Cookies", 1)
	wantDWORD(t, san, "Locked", 1)
}

func TestRegistryApply(t *testing.T) {
	sink := newSink(t)
	cfg := DefaultConfig()
	m, base := newRegManager(t, cfg, sink)
	changed, err := m.Apply()
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 4 {
		t.Errorf("changed = %v", changed)
	}
	checkRegistryPolicies(t, base, cfg)
	if keyExists(base + `\Google\Chrome\ExtensionInstallAllowlist`) {
		t.Error("empty allowlist written")
	}
	changed, err = m.Apply()
	if err != nil || len(changed) != 0 {
		t.Errorf("second Apply: %v %v", changed, err)
	}
	if len(sink.All()) != 0 {
		t.Errorf("events on first install: %v", sink)
	}
}

func TestRegistryTamperReasserted(t *testing.T) {
	sink := newSink(t)
	cfg := DefaultConfig()
	cfg.Interval = time.Hour // only the registry notification can wake the watcher
	m, base := newRegManager(t, cfg, sink)
	rechecked := startWatch(t, m)
	rechecked()
	chromeLoc := `HKLM\` + base + `\Google\Chrome`
	edgeLoc := `HKLM\` + base + `\Microsoft\Edge`
	ffLoc := `HKLM\` + base + `\Mozilla\Firefox`

	// A value deleted.
	chrome := openKey(t, base+`\Google\Chrome`)
	if err := chrome.DeleteValue("DownloadRestrictions"); err != nil {
		t.Fatal(err)
	}
	waitPolicyEvent(t, sink, protocol.EventPolicyReasserted, Chrome, chromeLoc)
	testbin.WaitFor(t, 10*time.Second, "DownloadRestrictions back", func() bool {
		ok, _ := valueIs(chrome, "DownloadRestrictions", regValue{kind: registry.DWORD, num: 2})
		return ok
	})

	// A value retyped: "0" as a string is not DWORD 2.
	edge := openKey(t, base+`\Microsoft\Edge`)
	if err := edge.SetStringValue("DeveloperToolsAvailability", "0"); err != nil {
		t.Fatal(err)
	}
	waitPolicyEvent(t, sink, protocol.EventPolicyReasserted, Edge, edgeLoc)
	testbin.WaitFor(t, 10*time.Second, "DeveloperToolsAvailability back", func() bool {
		ok, _ := valueIs(edge, "DeveloperToolsAvailability", regValue{kind: registry.DWORD, num: 2})
		return ok
	})

	// A value inside a subkey Carrel owns changed.
	al, _, err := registry.CreateKey(registry.LOCAL_MACHINE, base+`\Mozilla\Firefox\SanitizeOnShutdown`, registry.ALL_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	al.SetDWordValue("Cookies", 0)
	al.Close()
	waitPolicyEvent(t, sink, protocol.EventPolicyReasserted, Firefox, ffLoc)
	san := openKey(t, base+`\Mozilla\Firefox\SanitizeOnShutdown`)
	testbin.WaitFor(t, 10*time.Second, "Cookies back", func() bool { ok, _ := valueIs(san, "Cookies", regValue{kind: registry.DWORD, num: 1}); return ok })

	// A whole key deleted. The manager may still be re-writing Chrome's key
	// after the earlier tampering, and Wine then refuses the delete ("Access
	// denied", seen once in 20 runs): the tamperer simply tries again.
	testbin.WaitFor(t, 10*time.Second, "the Chrome key deleted by the tamperer", func() bool {
		err := deleteTree(openKey(t, base+`\Google`), "Chrome")
		return err == nil || errors.Is(err, registry.ErrNotExist)
	})
	testbin.WaitFor(t, 10*time.Second, "second chrome event", func() bool { return countFor(sink, protocol.EventPolicyReasserted, chromeLoc) >= 2 })
	testbin.WaitFor(t, 10*time.Second, "chrome key back", func() bool { return keyExists(base + `\Google\Chrome\ExtensionInstallBlocklist`) })
	checkRegistryPolicies(t, base, cfg)
}

func TestRegistryExtraListEntryRemoved(t *testing.T) {
	sink := newSink(t)
	m, base := newRegManager(t, DefaultConfig(), sink)
	if _, err := m.Apply(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base + `\Google\Chrome\ExtensionInstallAllowlist`, base + `\Google\Chrome\ExtensionInstallBlocklist`} {
		k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, p, registry.ALL_ACCESS)
		if err != nil {
			t.Fatal(err)
		}
		k.SetStringValue("7", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
		k.Close()
	}
	changed, err := m.Apply()
	if err != nil || len(changed) != 1 {
		t.Fatalf("Apply: %v %v", changed, err)
	}
	if keyExists(base + `\Google\Chrome\ExtensionInstallAllowlist`) {
		t.Error("planted allowlist kept")
	}
	if got := listValues(t, base+`\Google\Chrome\ExtensionInstallBlocklist`); !slices.Equal(got, []string{"*"}) {
		t.Errorf("blocklist %v", got)
	}
	if countFor(sink, protocol.EventPolicyReasserted, "") != 1 {
		t.Errorf("events %v", sink)
	}
}

func TestRegistryRemoveKeepsOthers(t *testing.T) {
	m, base := newRegManager(t, DefaultConfig(), nil)
	// Another tool: a value in Chrome's key and a sibling key of Chrome's.
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, base+`\Google\Chrome`, registry.ALL_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	k.SetStringValue("HomepageLocation", "https://library.example")
	k.Close()
	k, _, err = registry.CreateKey(registry.LOCAL_MACHINE, base+`\Google\Update`, registry.ALL_ACCESS)
	if err != nil {
		t.Fatal(err)
	}
	k.SetDWordValue("UpdateDefault", 1)
	k.Close()

	if _, err := m.Apply(); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	chrome := openKey(t, base+`\Google\Chrome`)
	wantSZ(t, chrome, "HomepageLocation", "https://library.example")
	if names, _ := chrome.ReadValueNames(-1); len(names) != 1 {
		t.Errorf("left in Chrome's key: %v", names)
	}
	if subs, _ := chrome.ReadSubKeyNames(-1); len(subs) != 0 {
		t.Errorf("subkeys left in Chrome's key: %v", subs)
	}
	wantDWORD(t, openKey(t, base+`\Google\Update`), "UpdateDefault", 1)
	for _, p := range []string{`\Microsoft\Edge`, `\Microsoft`, `\Chromium`, `\Mozilla`} {
		if keyExists(base + p) {
			t.Errorf("%s left behind", p)
		}
	}
	if !keyExists(base) {
		t.Error("the Policies key itself was deleted")
	}
	if err := m.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestRegistryFirefoxForeignDistribution(t *testing.T) {
	sink := newSink(t)
	cfg := DefaultConfig()
	cfg.Browsers = []string{Firefox}
	m, base := newRegManager(t, cfg, sink)
	file := filepath.Join(m.root, "Program Files", "Mozilla Firefox", "distribution", "policies.json")
	other := []byte(`{"policies": {"DisableAppUpdate": true}}`)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, other, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(); !errors.Is(err, ErrForeignPolicy) {
		t.Fatalf("Apply: %v", err)
	}
	if keyExists(base + `\Mozilla\Firefox`) {
		t.Error("registry policy written over another tool's policies.json")
	}
	if countFor(sink, protocol.EventPolicyRefused, `HKLM\`+base+`\Mozilla\Firefox`) != 1 {
		t.Errorf("events %v", sink)
	}
	cfg.TakeOverFirefox = true
	m2 := New(cfg, m.root, testLogger(t), nil)
	if _, err := m2.Apply(); err != nil {
		t.Fatal(err)
	}
	wantDWORD(t, openKey(t, base+`\Mozilla\Firefox`), "DisableDeveloperTools", 1)
	if got, _ := os.ReadFile(file); string(got) != string(other) {
		t.Error("the other policies.json was changed")
	}
}

// TestRealPoliciesKeyUnderWine writes the real HKLM\SOFTWARE\Policies keys, in
// a Wine prefix only (never on a real Windows machine).
func TestRealPoliciesKeyUnderWine(t *testing.T) {
	if !keyExists(`Software\Wine`) {
		t.Skip("not under Wine: the real policy keys are left alone")
	}
	cfg := DefaultConfig()
	m := New(cfg, "", testLogger(t), nil)
	if m.policiesBase() != `SOFTWARE\Policies` {
		t.Fatalf("base %s", m.policiesBase())
	}
	t.Cleanup(func() { m.Remove() })
	if _, err := m.Apply(); err != nil {
		t.Fatal(err)
	}
	checkRegistryPolicies(t, `SOFTWARE\Policies`, cfg)
	if err := m.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`Google\Chrome`, `Microsoft\Edge`, `Chromium`, `Mozilla\Firefox`} {
		if keyExists(`SOFTWARE\Policies\` + p) {
			t.Errorf("%s left after Remove", p)
		}
	}
}
