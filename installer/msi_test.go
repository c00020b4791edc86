package installer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/service"
)

func needTool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("skipping: %s not on PATH (apt-get install %s)", name, pkg)
	}
}

// msiTable exports one table with msiinfo and returns its rows by column name.
func msiTable(t *testing.T, msi, table string) []map[string]string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, table).Output()
	if err != nil {
		t.Fatalf("msiinfo export %s: %v", table, err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: short output %q", table, out)
	}
	cols := strings.Split(lines[0], "\t")
	var rows []map[string]string
	for _, l := range lines[3:] {
		f := strings.Split(l, "\t")
		row := map[string]string{}
		for i, c := range cols {
			if i < len(f) {
				row[c] = f[i]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func rowWhere(rows []map[string]string, col, val string) map[string]string {
	for _, r := range rows {
		if r[col] == val {
			return r
		}
	}
	return nil
}

func TestBuildMSITables(t *testing.T) {
	needTool(t, "wixl", "wixl")
	needTool(t, "msiinfo", "msitools")
	o := Options{Version: "2.3.4", AgentBinary: fakeAgent(t), OutDir: t.TempDir(), HubURL: "wss://hub.example:8443"}
	msi, err := BuildMSI(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(msi) != "carrel-agent-2.3.4-x64.msi" {
		t.Errorf("name = %s", msi)
	}

	si := rowWhere(msiTable(t, msi, "ServiceInstall"), "Name", service.Name)
	if si == nil {
		t.Fatal("no ServiceInstall row")
	}
	// 16 own process, 2 auto start, 1 normal error control.
	if si["ServiceType"] != "16" || si["StartType"] != "2" || si["ErrorControl"] != "1" ||
		si["Arguments"] != `service --config "[CommonAppDataFolder]Carrel\agent.toml"` {
		t.Errorf("ServiceInstall = %v", si)
	}
	sc := rowWhere(msiTable(t, msi, "ServiceControl"), "Name", service.Name)
	// 1 start on install, 2 stop on install, 32 stop on uninstall, 128 delete on uninstall.
	if sc == nil || sc["Event"] != "163" || sc["Wait"] != "1" {
		t.Errorf("ServiceControl = %v", sc)
	}
	reg := msiTable(t, msi, "Registry")
	for name, val := range map[string]string{"HubURL": "[HUB_URL]", "HubFingerprint": "[HUB_FINGERPRINT]", "EnrollToken": "[ENROLL_TOKEN]"} {
		r := rowWhere(reg, "Name", name)
		// Root 2 is HKEY_LOCAL_MACHINE.
		if r == nil || r["Root"] != "2" || r["Key"] != `SOFTWARE\Carrel` || r["Value"] != val {
			t.Errorf("Registry %s = %v", name, r)
		}
	}
	// The Windows Event Log source: EventCreate.exe's messages, the three
	// types (# marks a DWORD in the Registry table).
	for name, val := range map[string]string{"EventMessageFile": `[System64Folder]EventCreate.exe`, "TypesSupported": "#7", "CustomSource": "#1"} {
		if r := rowWhere(reg, "Name", name); r == nil || r["Root"] != "2" || r["Key"] != EventSourceKey || r["Value"] != val {
			t.Errorf("Registry %s = %v", name, r)
		}
	}
	props := msiTable(t, msi, "Property")
	for name, val := range map[string]string{"ProductVersion": "2.3.4", "UpgradeCode": "{" + UpgradeCode + "}", "HUB_URL": o.HubURL, "ALLUSERS": "1"} {
		if r := rowWhere(props, "Property", name); r == nil || r["Value"] != val {
			t.Errorf("Property %s = %v, want %q", name, r, val)
		}
	}
	// wixl drops Property/@Secure: without this row an elevated install started
	// by a non-admin loses the three on the way to the server side.
	// The upgrade detection properties wixl puts there stay.
	if r := rowWhere(props, "Property", "SecureCustomProperties"); r == nil ||
		r["Value"] != "WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;HUB_URL;HUB_FINGERPRINT;ENROLL_TOKEN" {
		t.Errorf("SecureCustomProperties = %v, want the upgrade properties and HUB_URL;HUB_FINGERPRINT;ENROLL_TOKEN", r)
	}
	if r := rowWhere(props, "Property", "MsiHiddenProperties"); r == nil || !strings.Contains(r["Value"], "ENROLL_TOKEN") {
		t.Errorf("MsiHiddenProperties = %v: the token would appear in install logs", r)
	}
	if r := rowWhere(props, "Property", "ENROLL_TOKEN"); r != nil {
		t.Errorf("ENROLL_TOKEN has a default baked in: %v", r)
	}
	up := msiTable(t, msi, "Upgrade")
	if len(up) != 2 || rowWhere(up, "ActionProperty", "WIX_UPGRADE_DETECTED") == nil {
		t.Errorf("Upgrade = %v", up)
	}
	ca := msiTable(t, msi, "CustomAction")
	if r := rowWhere(ca, "Action", "SetRecovery"); r == nil || r["Target"] != RecoveryCommand {
		t.Errorf("SetRecovery = %v", r)
	}
	seq := msiTable(t, msi, "InstallExecuteSequence")
	order := map[string]int{}
	for _, r := range seq {
		var n int
		for _, c := range r["Sequence"] {
			n = n*10 + int(c-'0')
		}
		order[r["Action"]] = n
	}
	if !(order["InstallServices"] < order["SetRecovery"] && order["SetRecovery"] < order["StartServices"]) {
		t.Errorf("SetRecovery not between InstallServices and StartServices: %v", order)
	}
	if !(order["DeleteServices"] < order["PurgeState"] && order["PurgeState"] < order["RemoveFiles"]) {
		t.Errorf("PurgeState must run after the service is deleted and before its exe goes: %v", order)
	}
	if !(order["CostFinalize"] < order["SetScExe"] && order["SetScExe"] < order["SetRecovery"]) {
		t.Errorf("SetScExe must run after SystemFolder is resolved: %v", order)
	}
	if !(order["InstallFinalize"] < order["RemoveExistingProducts"]) {
		t.Errorf("the old version must be removed after the new one is installed (shared components keep the service and state): %v", order)
	}
	if !(order["AppSearch"] < order["KeepHubURL"] && order["KeepHubURL"] < order["InstallInitialize"]) {
		t.Errorf("KeepHubURL misplaced: %v", order)
	}
}

// testCert writes a self-signed code-signing certificate and key (PEM).
func testCert(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "Carrel test signing"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func TestBuildMSISigned(t *testing.T) {
	needTool(t, "wixl", "wixl")
	needTool(t, "osslsigncode", "osslsigncode")
	cert, key := testCert(t)
	o := Options{Version: "2.3.4", AgentBinary: fakeAgent(t), OutDir: t.TempDir(), SignCert: cert, SignKey: key}
	msi, err := BuildMSI(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", msi).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature verification: ok") {
		t.Fatalf("osslsigncode verify: %v\n%s", err, out)
	}
	// An unsigned build does not verify: the check above can fail.
	o.SignCert, o.SignKey = "", ""
	o.OutDir = t.TempDir()
	plain, err := BuildMSI(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", plain).Run(); err == nil {
		t.Fatal("an unsigned MSI verified")
	}
}

func TestMergeSecureList(t *testing.T) {
	for _, c := range []struct{ list, want string }{
		{"", "HUB_URL;ENROLL_TOKEN"},
		{"WIX_UPGRADE_DETECTED", "WIX_UPGRADE_DETECTED;HUB_URL;ENROLL_TOKEN"},
		{"HUB_URL;X", "HUB_URL;X;ENROLL_TOKEN"},
	} {
		if got := mergeList(c.list, []string{"HUB_URL", "ENROLL_TOKEN"}); got != c.want {
			t.Errorf("mergeList(%q) = %q, want %q", c.list, got, c.want)
		}
	}
	export := []byte("Property\tValue\r\ns72\tl0\r\nProperty\tProperty\r\nALLUSERS\t1\r\nSecureCustomProperties\tA;B\r\n")
	if v, ok := propertyValue(export, "SecureCustomProperties"); !ok || v != "A;B" {
		t.Errorf("propertyValue = %q, %v", v, ok)
	}
	if _, ok := propertyValue(export, "Property"); ok {
		t.Error("a header line read as a row")
	}
}
