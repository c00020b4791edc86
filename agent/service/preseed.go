package service

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Preseed is what an installer leaves for the service to enroll with.
type Preseed struct {
	HubURL         string // wss://hub.example.org:8443
	HubFingerprint string // SHA-256 of the hub CA certificate, hex
	EnrollToken    string // one-use or N-use enrollment token; erased after enrollment
}

// Empty reports whether nothing is preseeded.
func (p Preseed) Empty() bool { return p == Preseed{} }

// CanEnroll reports whether p holds everything enrollment needs.
func (p Preseed) CanEnroll() bool {
	return p.HubURL != "" && p.HubFingerprint != "" && p.EnrollToken != ""
}

// Validate checks the shape of the values that are set.
func (p Preseed) Validate() error {
	if p.HubURL != "" {
		u, err := url.Parse(p.HubURL)
		if err != nil {
			return fmt.Errorf("hub URL %q: %w", p.HubURL, err)
		}
		if u.Scheme != "wss" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("hub URL %q: want wss://HOST:PORT", p.HubURL)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"hub URL", p.HubURL}, {"hub fingerprint", p.HubFingerprint}, {"enrollment token", p.EnrollToken},
	} {
		if strings.ContainsAny(f.v, "\r\n\x00\"'`$\\ \t") {
			return fmt.Errorf("%s contains a space, quote or control character", f.name)
		}
		if len(f.v) > 1024 {
			return fmt.Errorf("%s is longer than 1024 bytes", f.name)
		}
	}
	return nil
}

// Merge returns p with the fields set in q replacing its own.
func (p Preseed) Merge(q Preseed) Preseed {
	if q.HubURL != "" {
		p.HubURL = q.HubURL
	}
	if q.HubFingerprint != "" {
		p.HubFingerprint = q.HubFingerprint
	}
	if q.EnrollToken != "" {
		p.EnrollToken = q.EnrollToken
	}
	return p
}

// Preseed file keys, also the MSI public property names and the environment
// variable names the .deb postinst reads.
const (
	KeyHubURL         = "HUB_URL"
	KeyHubFingerprint = "HUB_FINGERPRINT"
	KeyEnrollToken    = "ENROLL_TOKEN"
)

// ErrPreseedSyntax is returned for a preseed file that is not KEY=value lines.
var ErrPreseedSyntax = errors.New("preseed syntax error")

// ParsePreseed reads KEY=value lines (shell-compatible: no spaces, optional
// single or double quotes around the value, # comments). Unknown keys are
// refused so a typo is not silently ignored.
func ParsePreseed(data []byte) (Preseed, error) {
	var p Preseed
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Preseed{}, fmt.Errorf("%w: line %d: want KEY=value", ErrPreseedSyntax, n)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		switch strings.TrimSpace(k) {
		case KeyHubURL:
			p.HubURL = v
		case KeyHubFingerprint:
			p.HubFingerprint = v
		case KeyEnrollToken:
			p.EnrollToken = v
		default:
			return Preseed{}, fmt.Errorf("%w: line %d: unknown key %q", ErrPreseedSyntax, n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return Preseed{}, fmt.Errorf("%w: %v", ErrPreseedSyntax, err)
	}
	if err := p.Validate(); err != nil {
		return Preseed{}, fmt.Errorf("%w: %v", ErrPreseedSyntax, err)
	}
	return p, nil
}

// Format writes p as a preseed file; empty fields are left out.
func (p Preseed) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# Carrel enrollment preseed, read by carrel-agent at start until it is enrolled.\n")
	for _, kv := range [][2]string{{KeyHubURL, p.HubURL}, {KeyHubFingerprint, p.HubFingerprint}, {KeyEnrollToken, p.EnrollToken}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
		}
	}
	return b.Bytes()
}
