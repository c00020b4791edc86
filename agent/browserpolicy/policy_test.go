package browserpolicy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestChromiumPolicyValues(t *testing.T) {
	cfg := DefaultConfig()
	for _, b := range []string{Chrome, Chromium, Edge} {
		p := chromiumPolicy(cfg, b)
		want := map[string]any{
			"DownloadRestrictions":       2,
			"DownloadDirectory":          cfg.DownloadDirectory,
			"PromptForDownloadLocation":  false,
			"DeveloperToolsAvailability": 2,
			"BrowserSignin":              0,
			"SyncDisabled":               true,
			"PasswordManagerEnabled":     false,
		}
		if b == Edge {
			want["InPrivateModeAvailability"] = 1
			want["ClearBrowsingDataOnExit"] = true
		} else {
			want["IncognitoModeAvailability"] = 1
			want["SafeBrowsingProtectionLevel"] = 1
		}
		for k, v := range want {
			if p[k] != v {
				t.Errorf("%s %s = %v, want %v", b, k, p[k], v)
			}
		}
		if got := p["ExtensionInstallBlocklist"].([]string); !slices.Equal(got, []string{"*"}) {
			t.Errorf("%s blocklist = %v", b, got)
		}
		if b != Edge && len(p["ClearBrowsingDataOnExitList"].([]string)) != len(clearOnExitTypes) {
			t.Errorf("%s clear list incomplete", b)
		}
		if _, ok := p["IncognitoModeAvailability"]; ok == (b == Edge) {
			t.Errorf("%s: incognito policy name wrong for this browser", b)
		}
	}
}

func TestChromiumJSONOmitsEmptyAllowlist(t *testing.T) {
	cfg := DefaultConfig()
	var doc map[string]any
	if err := json.Unmarshal(encodeChromiumJSON(chromiumPolicy(cfg, Chrome)), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["ExtensionInstallAllowlist"]; ok {
		t.Error("empty allowlist written")
	}
	cfg.ExtensionAllowlist = []string{"cjpalhdlnbpafiamejdnhcphjbkeiagm"}
	doc = nil
	if err := json.Unmarshal(encodeChromiumJSON(chromiumPolicy(cfg, Chrome)), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc["ExtensionInstallAllowlist"]; len(got.([]any)) != 1 {
		t.Errorf("allowlist = %v", got)
	}
}

func TestFirefoxPolicyDocument(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FirefoxExtensionAllowlist = []string{"uBlock0@raymondhill.net"}
	data := encodeFirefoxJSON(firefoxPolicy(cfg))
	var doc struct {
		Policies struct {
			ExtensionSettings               map[string]map[string]string
			DisableDeveloperTools           bool
			PromptForDownloadLocation       *bool
			PrivateBrowsingModeAvailability int
			SanitizeOnShutdown              map[string]bool
			PasswordManagerEnabled          *bool
			DownloadDirectory               string
		} `json:"policies"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Policies
	if p.ExtensionSettings["*"]["installation_mode"] != "blocked" ||
		p.ExtensionSettings["uBlock0@raymondhill.net"]["installation_mode"] != "allowed" {
		t.Errorf("ExtensionSettings = %v", p.ExtensionSettings)
	}
	if !p.DisableDeveloperTools || p.PromptForDownloadLocation == nil || *p.PromptForDownloadLocation ||
		p.PrivateBrowsingModeAvailability != 1 || p.PasswordManagerEnabled == nil || *p.PasswordManagerEnabled ||
		p.DownloadDirectory != cfg.FirefoxDownloadDirectory {
		t.Errorf("policies = %+v", p)
	}
	for _, k := range []string{"Cache", "Cookies", "FormData", "History", "Sessions", "SiteSettings", "Locked"} {
		if !p.SanitizeOnShutdown[k] {
			t.Errorf("SanitizeOnShutdown.%s not true", k)
		}
	}
	if ours, err := inspectFirefoxJSON(data); !ours || err != nil {
		t.Errorf("own document not recognised: %v %v", ours, err)
	}
}

func TestInspectFirefoxJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ours     bool
		bad      bool
	}{
		{"debian", `{"policies": {"DisableAppUpdate": true}}`, false, false},
		{"marker", `{"policies": {}, "carrel": {"managed_by": "carrel-agent"}}`, true, false},
		{"other marker", `{"policies": {}, "carrel": {"managed_by": "someone"}}`, false, false},
		{"marker wrong shape", `{"policies": {}, "carrel": "carrel-agent"}`, false, false},
		{"empty", ``, false, true},
		{"not object", `[1,2]`, false, true},
		{"trailing", `{"policies": {}} {}`, false, true},
		{"truncated", `{"policies": {"carrel"`, false, true},
		{"huge", `{"x":"` + strings.Repeat("a", maxPolicyFile) + `"}`, false, true},
	} {
		ours, err := inspectFirefoxJSON([]byte(tc.in))
		if ours != tc.ours || (err != nil) != tc.bad {
			t.Errorf("%s: ours %v err %v", tc.name, ours, err)
		}
		if err != nil && !errors.Is(err, errNotPolicyFile) {
			t.Errorf("%s: error %v is not errNotPolicyFile", tc.name, err)
		}
	}
}

func FuzzInspectFirefoxJSON(f *testing.F) {
	f.Add([]byte(`{"policies": {"DisableAppUpdate": true}}`))
	f.Add([]byte(`{"policies": {}, "carrel": {"managed_by": "carrel-agent"}}`))
	f.Add([]byte(`{"carrel": {"managed_by": "carrel-agent"}, "carrel": null}`))
	f.Add(encodeFirefoxJSON(firefoxPolicy(DefaultConfig())))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, err := inspectFirefoxJSON(data)
		if err != nil && ours {
			t.Fatal("an unreadable file was judged Carrel's")
		}
		if ours && !json.Valid(data) {
			t.Fatal("invalid JSON judged Carrel's")
		}
		if ours && !strings.Contains(string(data), "carrel-agent") && !strings.Contains(string(data), `\u`) {
			t.Fatal("judged Carrel's without the marker")
		}
	})
}

func TestPlistRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DownloadDirectory = `${user_home}/Down <&> "loads"`
	cfg.ExtensionAllowlist = []string{"cjpalhdlnbpafiamejdnhcphjbkeiagm"}
	p := chromiumPolicy(cfg, Chrome)
	data := encodePlist(p)
	got, err := decodePlist(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if got["DownloadDirectory"] != cfg.DownloadDirectory || got["DownloadRestrictions"] != 2 ||
		got["PromptForDownloadLocation"] != false || got["SyncDisabled"] != true {
		t.Errorf("decoded %v", got)
	}
	if l, _ := got["ClearBrowsingDataOnExitList"].([]any); len(l) != len(clearOnExitTypes) {
		t.Errorf("list = %v", got["ClearBrowsingDataOnExitList"])
	}
	if ours, err := inspectPlist(data); !ours || err != nil {
		t.Errorf("own plist not recognised: %v", err)
	}
	mdm := []byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>DownloadRestrictions</key><integer>1</integer></dict></plist>`)
	if ours, err := inspectPlist(mdm); ours || err != nil {
		t.Errorf("MDM plist: ours %v err %v", ours, err)
	}
	if _, err := decodePlist([]byte("bplist00\x00\x01")); !errors.Is(err, errNotPlist) {
		t.Errorf("binary plist: %v", err)
	}
}

func FuzzDecodePlist(f *testing.F) {
	f.Add(encodePlist(chromiumPolicy(DefaultConfig(), Edge)))
	f.Add([]byte(`<plist><dict><key>a</key><array><dict/></array></dict></plist>`))
	f.Add([]byte(`<plist><dict><key>a</key></dict></plist>`))
	f.Add([]byte(`<plist><array></array></plist>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := decodePlist(data)
		if err == nil && root == nil {
			t.Fatal("nil dict without error")
		}
		if err != nil && !errors.Is(err, errNotPlist) {
			t.Fatalf("error %v is not errNotPlist", err)
		}
	})
}

func TestPolicyVersion(t *testing.T) {
	a, b := DefaultConfig(), DefaultConfig()
	if policyVersion(a) != policyVersion(b) || len(policyVersion(a)) != 12 {
		t.Fatalf("unstable or odd version %q", policyVersion(a))
	}
	b.TakeOverFirefox = true
	b.Interval = time.Hour
	if policyVersion(a) != policyVersion(b) {
		t.Error("version depends on settings that are not policy")
	}
	b.DownloadRestrictions = 1
	if policyVersion(a) == policyVersion(b) {
		t.Error("version ignores DownloadRestrictions")
	}
	c := DefaultConfig()
	c.Browsers = []string{Firefox}
	if policyVersion(a) == policyVersion(c) {
		t.Error("version ignores the browser set")
	}
	if New(a, "", nil, nil).PolicyVersion() != policyVersion(a) {
		t.Error("Manager reports another version")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"browser":       func(c *Config) { c.Browsers = []string{"opera"} },
		"interval":      func(c *Config) { c.Interval = 0 },
		"restrictions":  func(c *Config) { c.DownloadRestrictions = 0 },
		"restrictions5": func(c *Config) { c.DownloadRestrictions = 5 },
		"dir":           func(c *Config) { c.DownloadDirectory = "" },
		"dir control":   func(c *Config) { c.FirefoxDownloadDirectory = "a\nb" },
		"chrome id":     func(c *Config) { c.ExtensionAllowlist = []string{"*"} },
		"firefox id":    func(c *Config) { c.FirefoxExtensionAllowlist = []string{"*"} },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	m := New(Config{}, filepath.Join(os.TempDir(), "carrel-never-written"), nil, nil) // refused before any write
	if _, err := m.Apply(); !errors.Is(err, ErrConfig) {
		t.Errorf("Apply with zero Config: %v", err)
	}
}

func TestConfigTOML(t *testing.T) {
	cfg := DefaultConfig()
	_, err := toml.Decode(`
interval = "30s"
download_restrictions = 1
extension_allowlist = ["cjpalhdlnbpafiamejdnhcphjbkeiagm"]
take_over_firefox = true
`, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != 30*time.Second || cfg.DownloadRestrictions != 1 || !cfg.TakeOverFirefox ||
		len(cfg.ExtensionAllowlist) != 1 || len(cfg.Browsers) != 4 {
		t.Errorf("decoded %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}
