package hubservice

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
)

// Service identity, the same in every package format.
const (
	Name        = "carrel-hub"
	DisplayName = "Carrel Hub"
	Description = "Carrel hub: the server the library's public PCs and staff consoles connect to."
	// User is the system user the .deb makes and runs the hub as.
	User = "carrel-hub"
)

// Linux layout of an installed hub.
const (
	// LinuxDataDir holds the CA, keys, hub.db and hub.sock: mode 0700, owned by
	// the hub's user.
	LinuxDataDir = "/var/lib/carrel-hub"
	// LinuxEnvFile is read by the unit: CARREL_HUB_OPTS there are added to
	// `carrel-hub serve` (e.g. --name hub.library.example --listen :8443).
	LinuxEnvFile = "/etc/default/carrel-hub"
	// OptsVar is the variable of LinuxEnvFile the unit expands.
	OptsVar = "CARREL_HUB_OPTS"
)

// UnitOptions fill the systemd unit.
type UnitOptions struct {
	// Executable is the absolute path of carrel-hub.
	Executable string
	// DataDir is the absolute path of the data directory.
	DataDir string
	// Args are more arguments of `carrel-hub serve` (--listen, --name ...),
	// each without spaces or shell characters.
	Args []string
	// User runs the hub as that user (and its group of the same name); empty
	// runs it as root.
	User string
}

// unitTemplate is the hub's systemd unit. The hub needs far less than the
// agent: a TCP listener, its data directory and its log (stderr, the
// journal). So it may write nothing else (ProtectSystem=strict), sees no homes,
// devices or other processes' /tmp, and keeps one capability, to bind a port
// below 1024 if IT picks :443. It restarts always and never gives up: agents
// and consoles reconnect on their own once it is back.
const unitTemplate = `[Unit]
Description=Carrel hub (the server public PCs and staff consoles connect to)
Documentation=https://github.com/carrel-kiosk/carrel
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
{{- if .User}}
User={{.User}}
Group={{.User}}
{{- end}}
EnvironmentFile=-{{.EnvFile}}
ExecStart={{.Executable}} serve --data {{.DataDir}}{{range .Args}} {{.}}{{end}} ${{.OptsVar}}
Restart=always
RestartSec=2s
TimeoutStopSec=30s
LimitNOFILE=65536
UMask=0077
ReadWritePaths={{.DataDir}}
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
AmbientCapabilities=CAP_NET_BIND_SERVICE
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
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
`

var unitTmpl = template.Must(template.New("unit").Option("missingkey=error").Parse(unitTemplate))

// SystemdUnit renders the hub's systemd unit: the .deb ships it, and
// `carrel-hub install` on systemd writes the same text.
func SystemdUnit(o UnitOptions) (string, error) {
	for what, p := range map[string]string{"executable": o.Executable, "data directory": o.DataDir} {
		if p == "" || p[0] != '/' {
			return "", fmt.Errorf("systemd unit: %s %q is not an absolute path", what, p)
		}
	}
	for _, a := range o.Args {
		if a == "" {
			return "", fmt.Errorf("systemd unit: empty argument")
		}
	}
	for _, s := range append([]string{o.Executable, o.DataDir, o.User}, o.Args...) {
		if strings.ContainsAny(s, " \t\n\"'\\%$;") {
			return "", fmt.Errorf("systemd unit: %q needs quoting; use a plain value", s)
		}
	}
	var b bytes.Buffer
	err := unitTmpl.Execute(&b, map[string]any{
		"Executable": o.Executable, "DataDir": o.DataDir, "Args": o.Args, "User": o.User,
		"EnvFile": LinuxEnvFile, "OptsVar": OptsVar,
	})
	if err != nil {
		return "", fmt.Errorf("render systemd unit: %w", err)
	}
	return b.String(), nil
}

// ServeArgs are the arguments of the service's command line after the
// executable: entry is "serve" (systemd, sysv) or "service" (the Windows
// service entry point).
func ServeArgs(entry, dataDir string, args []string) []string {
	return append([]string{entry, "--data", dataDir}, args...)
}
