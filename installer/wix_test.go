package installer

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/carrel-kiosk/carrel/agent/service"
)

// The WiX v3 nodes the tests look at.
type wixDoc struct {
	XMLName xml.Name `xml:"Wix"`
	Product struct {
		Version      string `xml:"Version,attr"`
		UpgradeCode  string `xml:"UpgradeCode,attr"`
		Manufacturer string `xml:"Manufacturer,attr"`
		Package      struct {
			InstallScope string `xml:"InstallScope,attr"`
		} `xml:"Package"`
		MajorUpgrade *struct {
			DowngradeErrorMessage string `xml:"DowngradeErrorMessage,attr"`
		} `xml:"MajorUpgrade"`
		Properties []struct {
			ID     string `xml:"Id,attr"`
			Value  string `xml:"Value,attr"`
			Hidden string `xml:"Hidden,attr"`
		} `xml:"Property"`
		Directory    wixDir `xml:"Directory"`
		CustomAction []struct {
			ID          string `xml:"Id,attr"`
			Property    string `xml:"Property,attr"`
			FileKey     string `xml:"FileKey,attr"`
			ExeCommand  string `xml:"ExeCommand,attr"`
			Execute     string `xml:"Execute,attr"`
			Impersonate string `xml:"Impersonate,attr"`
		} `xml:"CustomAction"`
		Sequence []struct {
			Action    string `xml:"Action,attr"`
			After     string `xml:"After,attr"`
			Before    string `xml:"Before,attr"`
			Condition string `xml:",chardata"`
		} `xml:"InstallExecuteSequence>Custom"`
	} `xml:"Product"`
}

type wixDir struct {
	ID         string   `xml:"Id,attr"`
	Name       string   `xml:"Name,attr"`
	Dirs       []wixDir `xml:"Directory"`
	Components []struct {
		ID    string `xml:"Id,attr"`
		Win64 string `xml:"Win64,attr"`
		File  *struct {
			Name string `xml:"Name,attr"`
		} `xml:"File"`
		ServiceInstall *struct {
			Name         string `xml:"Name,attr"`
			Type         string `xml:"Type,attr"`
			Start        string `xml:"Start,attr"`
			ErrorControl string `xml:"ErrorControl,attr"`
			Account      string `xml:"Account,attr"`
			Arguments    string `xml:"Arguments,attr"`
		} `xml:"ServiceInstall"`
		ServiceControl *struct {
			Name   string `xml:"Name,attr"`
			Start  string `xml:"Start,attr"`
			Stop   string `xml:"Stop,attr"`
			Remove string `xml:"Remove,attr"`
			Wait   string `xml:"Wait,attr"`
		} `xml:"ServiceControl"`
		Registry []struct {
			Root  string `xml:"Root,attr"`
			Key   string `xml:"Key,attr"`
			Name  string `xml:"Name,attr"`
			Value string `xml:"Value,attr"`
		} `xml:"RegistryValue"`
	} `xml:"Component"`
}

// find returns the directory with id below d.
func (d wixDir) find(id string) *wixDir {
	if d.ID == id {
		return &d
	}
	for _, c := range d.Dirs {
		if f := c.find(id); f != nil {
			return f
		}
	}
	return nil
}

func parseWiX(t *testing.T, o Options) wixDoc {
	t.Helper()
	src, err := WiX(o)
	if err != nil {
		t.Fatal(err)
	}
	var doc wixDoc
	if err := xml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("generated WiX does not parse: %v\n%s", err, src)
	}
	return doc
}

func TestWiXNodes(t *testing.T) {
	o := Options{Version: "1.4.2", AgentBinary: fakeAgent(t), OutDir: t.TempDir(),
		HubURL: "wss://hub.library.example:8443", Vendor: "Town & Gown Library"}
	doc := parseWiX(t, o)
	p := doc.Product
	if p.Version != "1.4.2" || p.UpgradeCode != UpgradeCode || p.Manufacturer != "Town & Gown Library" {
		t.Errorf("product = %q %q %q", p.Version, p.UpgradeCode, p.Manufacturer)
	}
	if p.Package.InstallScope != "perMachine" {
		t.Errorf("install scope %q", p.Package.InstallScope)
	}
	if p.MajorUpgrade == nil || p.MajorUpgrade.DowngradeErrorMessage == "" {
		t.Error("no MajorUpgrade")
	}
	props := map[string]string{}
	for _, pr := range p.Properties {
		props[pr.ID] = pr.Value
		if pr.ID == PropEnrollToken && pr.Hidden != "yes" {
			t.Error("ENROLL_TOKEN is not hidden from the install log")
		}
	}
	for _, want := range []string{PropHubURL, PropHubFingerprint, PropEnrollToken} {
		if _, ok := props[want]; !ok {
			t.Errorf("no public property %s", want)
		}
	}
	if props[PropHubURL] != o.HubURL {
		t.Errorf("HUB_URL default = %q", props[PropHubURL])
	}
	if props[PropEnrollToken] != "" {
		t.Errorf("a token default appeared: %q", props[PropEnrollToken])
	}

	dir := p.Directory.find("INSTALLDIR")
	if dir == nil || dir.Name != "Carrel" || p.Directory.find("ProgramFiles64Folder") == nil {
		t.Fatalf("INSTALLDIR not ProgramFiles64Folder\\Carrel: %+v", p.Directory)
	}
	var gotService, gotControl bool
	regs := map[string]string{}
	for _, c := range dir.Components {
		if c.Win64 != "yes" {
			t.Errorf("component %s not Win64", c.ID)
		}
		if si := c.ServiceInstall; si != nil {
			gotService = true
			if c.File == nil || c.File.Name != "carrel-agent.exe" {
				t.Errorf("service component has no carrel-agent.exe")
			}
			want := `service --config "[CommonAppDataFolder]Carrel\agent.toml"`
			if si.Name != service.Name || si.Type != "ownProcess" || si.Start != "auto" ||
				si.ErrorControl != "normal" || si.Account != "LocalSystem" || si.Arguments != want {
				t.Errorf("ServiceInstall = %+v", *si)
			}
		}
		if sc := c.ServiceControl; sc != nil {
			gotControl = true
			if sc.Start != "install" || sc.Stop != "both" || sc.Remove != "uninstall" || sc.Wait != "yes" {
				t.Errorf("ServiceControl = %+v", *sc)
			}
		}
		for _, r := range c.Registry {
			if r.Root != "HKLM" || (r.Key != service.RegistryKey && r.Key != EventSourceKey) {
				t.Errorf("registry value outside HKLM\\%s and the event source's key: %+v", service.RegistryKey, r)
			}
			regs[r.Name] = r.Value
		}
	}
	if !gotService || !gotControl {
		t.Fatal("no ServiceInstall/ServiceControl")
	}
	for name, val := range map[string]string{service.RegHubURL: "[HUB_URL]", service.RegHubFingerprint: "[HUB_FINGERPRINT]",
		service.RegEnrollToken: "[ENROLL_TOKEN]", "Version": "1.4.2"} {
		if regs[name] != val {
			t.Errorf("registry %s = %q, want %q", name, regs[name], val)
		}
	}

	cas := map[string]string{}
	for _, ca := range p.CustomAction {
		cas[ca.ID] = ca.ExeCommand
		if ca.Execute == "deferred" && ca.Impersonate != "no" {
			t.Errorf("deferred action %s impersonates the user", ca.ID)
		}
	}
	if cas["SetRecovery"] != RecoveryCommand || !strings.Contains(RecoveryCommand, "restart/5000") {
		t.Errorf("recovery action = %q", cas["SetRecovery"])
	}
	if cas["PurgeState"] != "uninstall --purge --if-version [ProductVersion]" {
		t.Errorf("purge action = %q", cas["PurgeState"])
	}
	seq := map[string]string{}
	for _, s := range p.Sequence {
		seq[s.Action] = strings.TrimSpace(s.Condition)
	}
	if seq["PurgeState"] != `REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE` {
		t.Errorf("purge runs on %q; it must not run during an upgrade", seq["PurgeState"])
	}
}

func TestWiXEscapesValues(t *testing.T) {
	o := Options{Version: "1.0.0", AgentBinary: fakeAgent(t), OutDir: t.TempDir(),
		Vendor: "A <b> & c", HubFingerprint: "ab&cd<ef>"}
	doc := parseWiX(t, o)
	if doc.Product.Manufacturer != "A <b> & c" {
		t.Errorf("manufacturer = %q", doc.Product.Manufacturer)
	}
}

func TestWiXRefusesArm64(t *testing.T) {
	_, err := WiX(Options{Version: "1.0.0", Arch: "arm64", AgentBinary: fakeAgent(t), OutDir: t.TempDir()})
	if err == nil {
		t.Fatal("arm64 MSI accepted; wixl cannot build it")
	}
}
