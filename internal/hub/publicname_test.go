package hub

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// The enrollment lines a console gets name the hub's public name (serve
// --name) and the package files carrel-package builds, even though the
// console reached the hub at 127.0.0.1.
func TestEnrollmentLinesNamePublicName(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) {
		c.Names = []string{"PC.example"}
		c.Version = "1.4.2"
	})
	if host, _, _ := net.SplitHostPort(sh.Addr().String()); host != "127.0.0.1" {
		t.Fatalf("the console should reach the hub on loopback here, not %s", host)
	}
	_, port, _ := net.SplitHostPort(sh.Addr().String())
	secret := sh.setup(t, "ann", adminPW)
	admin := sh.console(t, sh.mustLogin(t, "ann", adminPW, secret), nil)
	var tok protocol.TokenView
	admin.ok(protocol.OpTokenCreate, protocol.TokenArgs{Uses: 1, TTL: time.Hour}, &tok)
	want := "wss://pc.example:" + port
	if tok.HubURL != want || tok.NoPublicName {
		t.Fatalf("token names %q (no public name %v), want %q", tok.HubURL, tok.NoPublicName, want)
	}
	for _, line := range []string{tok.AgentCommand, tok.MSICommand, tok.DebCommand} {
		if !strings.Contains(line, want+" ") || strings.Contains(line, "127.0.0.1") || strings.Contains(line, "localhost") {
			t.Errorf("line %q does not name %s alone", line, want)
		}
	}
	if tok.MSIFile != "carrel-agent-1.4.2-x64.msi" || !strings.HasPrefix(tok.MSICommand, "msiexec /i carrel-agent-1.4.2-x64.msi /qn ") {
		t.Errorf("MSI line %q (file %q)", tok.MSICommand, tok.MSIFile)
	}
	if tok.DebFile != "carrel-agent_1.4.2-1_amd64.deb" || !strings.HasSuffix(tok.DebCommand, " apt-get install -y ./carrel-agent_1.4.2-1_amd64.deb") {
		t.Errorf(".deb line %q (file %q)", tok.DebCommand, tok.DebFile)
	}
	var info protocol.HubInfo
	admin.ok(protocol.OpHubInfo, nil, &info)
	if info.HubURL != want || info.NoPublicName {
		t.Errorf("hub.info %+v", info)
	}
	if strings.Contains(sh.log.String(), "no public name") {
		t.Error("a hub with --name logged that it has no public name")
	}
}

// Without a public name the hub says so, in its log at start and to the
// console, instead of handing out localhost as if it were one.
func TestNoPublicNameSaidSo(t *testing.T) {
	sh := startStaffHub(t, func(c *Config) { c.Names = []string{"localhost", "127.0.0.1"} })
	secret := sh.setup(t, "ann", adminPW)
	admin := sh.console(t, sh.mustLogin(t, "ann", adminPW, secret), nil)
	var tok protocol.TokenView
	admin.ok(protocol.OpTokenCreate, protocol.TokenArgs{Uses: 1, TTL: time.Hour}, &tok)
	if !tok.NoPublicName || !strings.HasPrefix(tok.HubURL, "wss://localhost:") {
		t.Fatalf("token %+v: want the loopback URL marked as no public name", tok)
	}
	var info protocol.HubInfo
	admin.ok(protocol.OpHubInfo, nil, &info)
	if !info.NoPublicName {
		t.Errorf("hub.info %+v does not say the hub has no public name", info)
	}
	if l := sh.log.String(); !strings.Contains(l, "This hub has no public name: set carrel-hub serve --name") {
		t.Errorf("hub log does not say it has no public name:\n%s", l)
	}
}

func TestPublicName(t *testing.T) {
	tests := []struct {
		url   string
		names []string
		want  string
	}{
		{"", nil, ""},
		{"", []string{"localhost", "::1", "127.0.0.2", "0.0.0.0"}, ""},
		{"", []string{"localhost", "Hub.Library.example"}, "hub.library.example"},
		{"", []string{"10.0.0.5"}, "10.0.0.5"},
		{"wss://front-desk:9443", []string{"other"}, "front-desk"},
		{"wss://localhost:9443", []string{"other"}, "other"},
		{"wss://[::1]:8443", nil, ""},
	}
	for _, tt := range tests {
		if got := publicName(tt.url, tt.names); got != tt.want {
			t.Errorf("publicName(%q, %q) = %q, want %q", tt.url, tt.names, got, tt.want)
		}
	}
}

// The staff API's terminal record carries the agent certificate's NotAfter
// (the console warns from it when it is near), offline or not.
func TestStaffTerminalCarriesCertExpiry(t *testing.T) {
	sh := startStaffHub(t, nil)
	pc := sh.mustEnroll(t, "pc-cert")
	leaf, err := x509.ParseCertificate(pc.cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	secret := sh.setup(t, "ann", adminPW)
	admin := sh.console(t, sh.mustLogin(t, "ann", adminPW, secret), nil)
	var terms []protocol.TerminalView
	admin.ok(protocol.OpTerminals, nil, &terms)
	if len(terms) != 1 || terms[0].ID != pc.id {
		t.Fatalf("terminals %+v", terms)
	}
	if got := terms[0].CertExpires; got.IsZero() || got.Sub(leaf.NotAfter).Abs() > time.Second {
		t.Errorf("terminal's certificate expiry %v, the certificate says %v", got, leaf.NotAfter)
	}
}
