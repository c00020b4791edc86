//go:build linux

package installer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/agent/service"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestMSIUnderWine installs the real MSI with msiexec in a throwaway Wine
// prefix, checks that the service runs and enrolls with a real hub, upgrades
// it to a newer MSI without properties (it stays enrolled, one terminal), and
// uninstalls it (service, files, state and registry gone).
func TestMSIUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: installs under Wine")
	}
	needTool(t, "wixl", "wixl")
	w := newWinePrefix(t)
	ctx := context.Background()
	work := t.TempDir()
	if d := os.Getenv("CARREL_KEEP_WINE_LOGS"); d != "" {
		work = d
	}
	agent := buildAgent(t, "windows")
	v1, err := BuildMSI(ctx, Options{Version: "1.0.0", AgentBinary: agent, OutDir: filepath.Join(work, "v1")})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := BuildMSI(ctx, Options{Version: "1.0.1", AgentBinary: agent, OutDir: filepath.Join(work, "v2")})
	if err != nil {
		t.Fatal(err)
	}
	hub := startHub(t)
	tok := hub.Token(t, 1)
	token, fp := tok.Token, tok.Fingerprint

	agentLog := w.path(`C:\ProgramData\Carrel\agent.log`)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(agentLog)
			t.Logf("--- agent.log:\n%s", b)
			for _, l := range []string{"install.log", "upgrade.log", "uninstall.log"} {
				b, _ := os.ReadFile(filepath.Join(work, l))
				var keep []string
				for _, line := range strings.Split(decodeLog(b), "\n") {
					if strings.Contains(line, "Return value 0") || strings.Contains(line, "Return value 3") || strings.Contains(line, "rror") {
						keep = append(keep, line)
					}
				}
				t.Logf("--- %s, failures:\n%s", l, strings.Join(keep, "\n"))
			}
		}
	})
	const carrelKey = `HKLM\SOFTWARE\Carrel`
	const serviceKey = `HKLM\System\CurrentControlSet\Services\carrel-agent`
	exe := w.path(`C:\Program Files\Carrel\carrel-agent.exe`)

	// Install with the three public properties, silently, as GPO/Intune would.
	log1 := filepath.Join(work, "install.log")
	w.mustRun(t, 3*time.Minute, "wine", "msiexec", "/i", winPath(v1), "/qn",
		"HUB_URL="+hub.URL(), "HUB_FINGERPRINT="+fp, "ENROLL_TOKEN="+token, "/l*v", winPath(log1))
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("agent not installed: %v", err)
	}
	testbin.WaitFor(t, 60*time.Second, "the service RUNNING", func() bool { return w.serviceState(service.Name) == "RUNNING" })
	var term testbin.Terminal
	testbin.WaitFor(t, 90*time.Second, "the PC online at the hub", func() bool {
		on := hub.Online(t)
		if len(on) == 1 {
			term = on[0]
			return true
		}
		return false
	})
	if term.OS != "windows" {
		t.Errorf("terminal = %+v", term)
	}
	reg := w.regValues(carrelKey)
	if reg[service.RegHubURL] != hub.URL() || reg[service.RegHubFingerprint] != fp || reg["Version"] != "1.0.0" {
		t.Errorf("%s = %v", carrelKey, reg)
	}
	testbin.WaitFor(t, 30*time.Second, "the used token erased from the registry", func() bool {
		return w.regValues(carrelKey)[service.RegEnrollToken] == ""
	})
	// The running agent applied its browser policies (REG_DWORD, so look at
	// the raw output).
	const chromeKey = `HKLM\SOFTWARE\Policies\Google\Chrome`
	testbin.WaitFor(t, 30*time.Second, "Chrome policies written by the agent", func() bool {
		out, err := w.run(time.Minute, "wine", "reg", "query", chromeKey, "/v", "DownloadRestrictions")
		return err == nil && strings.Contains(out, "DownloadRestrictions")
	})
	// The event log source the agent's OpenLog writes under.
	eventKey := `HKLM\` + EventSourceKey
	if ev := w.regValues(eventKey); !strings.HasSuffix(strings.ToLower(ev["EventMessageFile"]), `\system32\eventcreate.exe`) {
		t.Errorf("%s = %v, want EventCreate.exe as its message file", eventKey, ev)
	}
	img := w.regValues(serviceKey)["ImagePath"]
	if !strings.HasPrefix(img, `"C:\Program Files\Carrel\carrel-agent.exe" service --config "C:\ProgramData\Carrel\agent.toml"`) {
		t.Errorf("ImagePath = %q, want the quoted executable and the service arguments", img)
	}
	b, _ := os.ReadFile(log1)
	if !strings.Contains(decodeLog(b), "SetRecovery. Return value 1") {
		t.Errorf("the recovery custom action did not run:\n%s", decodeLog(b))
	}
	// Not checked here: Wine 8's msi ignores MsiHiddenProperties and logs the
	// token (Windows Installer masks it); TestBuildMSITables checks the property.

	// Upgrade without properties, as a GPO update would: stays enrolled.
	w.mustRun(t, 3*time.Minute, "wine", "msiexec", "/i", winPath(v2), "/qn", "/l*v", winPath(filepath.Join(work, "upgrade.log")))
	testbin.WaitFor(t, 60*time.Second, "the upgraded service RUNNING", func() bool { return w.serviceState(service.Name) == "RUNNING" })
	if v := w.regValues(carrelKey)["Version"]; v != "1.0.1" {
		t.Errorf("Version after upgrade = %q", v)
	}
	if got := w.regValues(carrelKey)[service.RegHubURL]; got != hub.URL() {
		t.Errorf("HubURL after an upgrade without properties = %q, want it kept", got)
	}
	testbin.WaitFor(t, 90*time.Second, "the upgraded PC online as the same terminal", func() bool {
		on := hub.Online(t)
		return len(on) == 1 && on[0].ID == term.ID
	})
	if n := len(hub.Terminals(t)); n != 1 {
		t.Errorf("%d terminals after upgrade, want 1 (no re-enrollment)", n)
	}

	// Uninstall: service, files, state and registry go.
	w.mustRun(t, 3*time.Minute, "wine", "msiexec", "/x", winPath(v2), "/qn", "/l*v", winPath(filepath.Join(work, "uninstall.log")))
	if st := w.serviceState(service.Name); st != "" {
		t.Errorf("service still there after uninstall: %s", st)
	}
	for _, p := range []string{exe, w.path(`C:\Program Files\Carrel`), w.path(`C:\ProgramData\Carrel`)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after uninstall (%v)", p, err)
		}
	}
	if v := w.regValues(carrelKey); v != nil {
		t.Errorf("%s left after uninstall: %v", carrelKey, v)
	}
	if v := w.regValues(serviceKey); v != nil {
		t.Errorf("%s left after uninstall: %v", serviceKey, v)
	}
	if v := w.regValues(eventKey); v != nil {
		t.Errorf("%s left after uninstall: %v", eventKey, v)
	}
	if out, err := w.run(time.Minute, "wine", "reg", "query", chromeKey, "/v", "DownloadRestrictions"); err == nil && strings.Contains(out, "DownloadRestrictions") {
		t.Errorf("Chrome policy left after uninstall:\n%s", out)
	}
}

// decodeLog turns an msiexec log (UTF-16LE with BOM, or plain) into a string.
func decodeLog(b []byte) string {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0xfe {
		var s strings.Builder
		for i := 2; i+1 < len(b); i += 2 {
			s.WriteRune(rune(uint16(b[i]) | uint16(b[i+1])<<8))
		}
		return s.String()
	}
	return string(b)
}
