package service

import (
	"bytes"
	"fmt"
	"text/template"
)

// Service identity, the same in every package format.
const (
	Name        = "carrel-agent"
	DisplayName = "Carrel Agent"
	Description = "Carrel: blocks untrusted downloads, wipes the patron session at logout and carries out staff commands on this public PC."
)

// Paths is where an installed agent keeps its files.
type Paths struct {
	// Config is the TOML configuration file.
	Config string
	// StateDir holds the agent key, its certificate, the pinned CA and the outbox.
	// Only the service account may read it.
	StateDir string
	// QuarantineDir holds blocked downloads. Only the service account may read it.
	QuarantineDir string
	// DataDir holds the rest of the agent's data (wipe journal, profile
	// template, quarantine); purged with the rest. May equal the config's directory.
	DataDir string
	// PolicyDirs are directories the agent creates outside its own (browser
	// policies), deepest first; Uninstall removes those left empty.
	PolicyDirs []string
	// Preseed is the enrollment preseed file (KEY=value lines: HUB_URL,
	// HUB_FINGERPRINT, ENROLL_TOKEN). On Windows the preseed lives in the
	// registry key RegistryKey instead and this is empty.
	Preseed string
}

// Layouts per target OS. DefaultPaths returns the one for the running OS; the
// installer uses them by name because it builds packages for other OSes.
var (
	LinuxPaths = Paths{
		Config:        "/etc/carrel/agent.toml",
		StateDir:      "/var/lib/carrel-agent",
		QuarantineDir: "/var/lib/carrel/quarantine",
		DataDir:       "/var/lib/carrel",
		PolicyDirs:    LinuxPolicyDirs,
		Preseed:       "/etc/carrel/enroll.env",
	}
	DarwinPaths = Paths{
		Config:        "/Library/Application Support/Carrel/agent.toml",
		StateDir:      "/Library/Application Support/Carrel/state",
		QuarantineDir: "/Library/Application Support/Carrel/quarantine",
		DataDir:       "/Library/Application Support/Carrel",
		Preseed:       "/Library/Application Support/Carrel/enroll.env",
	}
)

// LinuxPolicyDirs are the directories agent/browserpolicy creates on Linux for
// its policy files, deepest first. Uninstall removes them once they are empty
// (browserpolicy's Remove takes the files, not the directories; 2026-11).
var LinuxPolicyDirs = []string{
	"/etc/opt/chrome/policies/managed", "/etc/opt/chrome/policies", "/etc/opt/chrome",
	"/etc/opt/edge/policies/managed", "/etc/opt/edge/policies", "/etc/opt/edge",
	"/etc/chromium/policies/managed", "/etc/chromium/policies", "/etc/chromium",
	"/etc/firefox/policies", "/etc/firefox",
	"/etc/firefox-esr/policies", "/etc/firefox-esr",
}

// Windows layout, relative to %ProgramData% (the MSI's CommonAppDataFolder).
const (
	WindowsDataDir       = `Carrel`
	WindowsConfigName    = `agent.toml`
	WindowsStateName     = `state`
	WindowsQuarantineDir = `quarantine`
	// RegistryKey (under HKLM) holds the preseed on Windows: values HubURL,
	// HubFingerprint and EnrollToken (REG_SZ).
	RegistryKey = `SOFTWARE\Carrel`
)

// Registry value names of the Windows preseed.
const (
	RegHubURL         = "HubURL"
	RegHubFingerprint = "HubFingerprint"
	RegEnrollToken    = "EnrollToken"
)

// ServiceArgs are the arguments the service manager passes to the executable:
// the explicit `service` entry point and the configuration file.
func ServiceArgs(configPath string) []string {
	return []string{"service", "--config", configPath}
}

// UnitOptions fill the systemd unit.
type UnitOptions struct {
	// Executable is the absolute path of carrel-agent, e.g. /usr/bin/carrel-agent.
	Executable string
	// Config is the absolute path of the configuration file.
	Config string
}

// unitTemplate is the systemd unit of the agent. The hardening keeps what the
// agent needs: it deletes patron homes and temp files (so no ProtectHome=,
// PrivateTmp= or ProtectSystem=, it also writes browser policies under /etc),
// kills patron processes and uses fanotify (so no capability bounding set). It
// restarts always and never gives up (StartLimitIntervalSec=0): a stopped agent
// is an unlocked PC.
const unitTemplate = `[Unit]
Description=Carrel agent (download guard, session wipe, staff commands)
Documentation=https://github.com/carrel-kiosk/carrel
Wants=network-online.target
After=network-online.target systemd-logind.service
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={{.Executable}} service --config {{.Config}}
Restart=always
RestartSec=5s
TimeoutStopSec=30s
KillMode=mixed
LimitNOFILE=65536
UMask=0077
StateDirectory=carrel-agent
StateDirectoryMode=0700
NoNewPrivileges=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`

var unitTmpl = template.Must(template.New("unit").Option("missingkey=error").Parse(unitTemplate))

// SystemdUnit renders the agent's systemd unit. The same text is installed by
// `carrel-agent install` on systemd and shipped in the .deb.
func SystemdUnit(o UnitOptions) (string, error) {
	if o.Executable == "" || o.Executable[0] != '/' {
		return "", fmt.Errorf("systemd unit: executable %q is not an absolute path", o.Executable)
	}
	if o.Config == "" || o.Config[0] != '/' {
		return "", fmt.Errorf("systemd unit: config %q is not an absolute path", o.Config)
	}
	for _, s := range []string{o.Executable, o.Config} {
		if bytes.ContainsAny([]byte(s), " \t\n\"'\\%$") {
			return "", fmt.Errorf("systemd unit: path %q needs quoting; use a plain path", s)
		}
	}
	var b bytes.Buffer
	if err := unitTmpl.Execute(&b, o); err != nil {
		return "", fmt.Errorf("render systemd unit: %w", err)
	}
	return b.String(), nil
}
