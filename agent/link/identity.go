package link

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Files in the state directory.
const (
	identityFile = "identity.json" // terminal ID and pin; written last, marks enrollment done
	agentPEMFile = "agent.pem"     // the certificate and its private key, one file so renewal is atomic
	caPEMFile    = "ca.pem"        // the pinned hub CA
	seenFile     = "commands-seen.json"
)

// ErrNotEnrolled is returned when the state directory holds no identity.
var ErrNotEnrolled = errors.New("this agent is not enrolled; run 'carrel-agent enroll --hub wss://HOST:PORT --token TOKEN --fingerprint CA-FINGERPRINT'")

// Identity is what enrollment leaves in the state directory.
type Identity struct {
	TerminalID  string    `json:"terminal_id"`
	HubURL      string    `json:"hub_url"`
	Fingerprint string    `json:"ca_fingerprint"`
	EnrolledAt  time.Time `json:"enrolled_at"`

	Cert tls.Certificate   `json:"-"` // leaf (with Leaf set) and private key
	CA   *x509.Certificate `json:"-"`
}

// LoadIdentity reads the identity in stateDir. It returns an error wrapping
// ErrNotEnrolled when there is none.
func LoadIdentity(stateDir string) (*Identity, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, identityFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("read identity %s: %w", identityFile, err)
	}
	if id.TerminalID == "" || len(id.TerminalID) > protocol.MaxShortString {
		return nil, fmt.Errorf("read identity %s: bad terminal id", identityFile)
	}
	pemData, err := os.ReadFile(filepath.Join(stateDir, agentPEMFile))
	if err != nil {
		return nil, fmt.Errorf("read agent certificate: %w", err)
	}
	id.Cert, err = tls.X509KeyPair(pemData, pemData)
	if err != nil {
		return nil, fmt.Errorf("read agent certificate %s: %w", agentPEMFile, err)
	}
	caData, err := os.ReadFile(filepath.Join(stateDir, caPEMFile))
	if err != nil {
		return nil, fmt.Errorf("read hub CA: %w", err)
	}
	id.CA, err = parseCertPEM(caData)
	if err != nil {
		return nil, fmt.Errorf("read hub CA %s: %w", caPEMFile, err)
	}
	if pki.Fingerprint(id.CA) != id.Fingerprint {
		return nil, fmt.Errorf("read hub CA %s: it does not match the pinned fingerprint %s", caPEMFile, id.Fingerprint)
	}
	return &id, nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// checkAgentCert checks a certificate the hub issued for key: it chains to ca for
// client authentication, carries key's public key, and names terminalID (if set).
func checkAgentCert(certPEM string, key crypto.Signer, ca *x509.Certificate, terminalID string, now time.Time) (*x509.Certificate, error) {
	cert, err := parseCertPEM([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("the certificate is not for this agent's key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("the certificate does not chain to the pinned CA: %w", err)
	}
	if terminalID != "" && cert.Subject.CommonName != terminalID {
		return nil, fmt.Errorf("the certificate names %q, not terminal %q", cert.Subject.CommonName, terminalID)
	}
	return cert, nil
}

// agentPEM is the certificate followed by its PKCS#8 private key.
func agentPEM(cert *x509.Certificate, key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...), nil
}

// writePrivate replaces path atomically with a 0600 file (on Windows the file
// inherits the state directory's DACL).
func writePrivate(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
