package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrWrongHub is returned by VerifyPinned when the hub's certificate chain does not
// lead to the CA the pinned fingerprint names.
var ErrWrongHub = errors.New("the hub is not the one the CA fingerprint names")

// Fingerprint is the lowercase hex SHA-256 of the certificate's DER (64 characters).
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint reads a SHA-256 fingerprint as IT may type or paste it: hex in
// either case, optionally prefixed by "sha256:" and optionally with ':' separators
// between bytes (as openssl prints it).
func ParseFingerprint(s string) ([32]byte, error) {
	var out [32]byte
	t := strings.TrimSpace(s)
	if len(t) >= 7 && strings.EqualFold(t[:7], "sha256:") {
		t = t[7:]
	}
	if strings.Contains(t, ":") {
		parts := strings.Split(t, ":")
		for _, p := range parts {
			if len(p) != 2 {
				return out, fmt.Errorf("parse fingerprint: separators must come between every byte (two hex digits)")
			}
		}
		t = strings.Join(parts, "")
	}
	if len(t) != 64 {
		return out, fmt.Errorf("parse fingerprint: want 64 hex digits (SHA-256), got %d characters", len(t))
	}
	b, err := hex.DecodeString(t)
	if err != nil {
		return out, fmt.Errorf("parse fingerprint: not hexadecimal: %w", err)
	}
	copy(out[:], b)
	return out, nil
}

// VerifyPinned checks a hub's presented chain against a pinned CA fingerprint. It is
// meant for an agent's tls.Config.VerifyPeerCertificate (with InsecureSkipVerify
// set, since the pin replaces the system roots). A certificate in rawCerts must have
// the fingerprint pin and be a CA; the leaf (rawCerts[0]) must chain to it, allow
// server authentication, and be valid for serverName (a DNS name or an IP address).
// It returns the pinned CA. Every failure wraps ErrWrongHub.
func VerifyPinned(rawCerts [][]byte, pin [32]byte, serverName string) (*x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return nil, fmt.Errorf("%w: no certificate presented", ErrWrongHub)
	}
	var ca *x509.Certificate
	inter := x509.NewCertPool()
	certs := make([]*x509.Certificate, 0, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %v", ErrWrongHub, i, err)
		}
		certs = append(certs, c)
		sum := sha256.Sum256(raw)
		if i > 0 && bytes.Equal(sum[:], pin[:]) {
			ca = c
		} else if i > 0 {
			inter.AddCert(c)
		}
	}
	if ca == nil {
		return nil, fmt.Errorf("%w: no certificate in its chain has fingerprint %x", ErrWrongHub, pin[:])
	}
	if !ca.IsCA || !ca.BasicConstraintsValid {
		return nil, fmt.Errorf("%w: the pinned certificate is not a CA", ErrWrongHub)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		DNSName:       serverName,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWrongHub, err)
	}
	return ca, nil
}

// PinnedTLSConfig is a client tls.Config for dialling the hub at serverName with
// the CA pinned by fingerprint; add the agent's client certificate to it. TLS 1.3
// is the minimum.
func PinnedTLSConfig(pin [32]byte, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		// The pin replaces the system roots: VerifyPeerCertificate does the whole check.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := VerifyPinned(raw, pin, serverName)
			return err
		},
	}
}
