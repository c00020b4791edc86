package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/atomicfile"
)

// Lifetimes and clock-skew allowance of the certificates this CA issues.
const (
	CALifetime      = 10 * 365 * 24 * time.Hour
	ServerLifetime  = 365 * 24 * time.Hour
	ServerRenewAt   = 30 * 24 * time.Hour // re-issue the server cert when less is left
	AgentLifetime   = 90 * 24 * time.Hour
	Backdate        = time.Hour
	MinRSABits      = 2048
	caCertFile      = "ca.pem"
	caKeyFile       = "ca.key"
	serverCertFile  = "server.pem"
	serverKeyFile   = "server.key"
	pemCert         = "CERTIFICATE"
	pemKey          = "PRIVATE KEY"
	pemCSR          = "CERTIFICATE REQUEST"
	pemCSRLegacy    = "NEW CERTIFICATE REQUEST"
	maxCSRPEMLength = 16 << 10
)

// ErrNoCA is returned by Open when the data directory holds no CA yet.
var ErrNoCA = errors.New("no CA in the data directory")

// ErrBadCSR marks a certificate request that is refused (bad PEM, bad signature,
// or a key type or size that is not accepted).
var ErrBadCSR = errors.New("certificate request refused")

// CA is the hub's certificate authority, stored in a data directory. Its methods
// are safe for concurrent use (it is immutable after Open).
type CA struct {
	dir     string
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	now     func() time.Time
}

// LoadOrCreate opens the CA in dir, creating dir (0700) and a new CA (ECDSA P-256,
// ten years, NotBefore back-dated an hour, key 0600) if there is none. It refuses a
// directory or key file that others can read (unix).
func LoadOrCreate(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	ca, err := Open(dir)
	if !errors.Is(err, ErrNoCA) {
		return ca, err
	}
	return create(dir, time.Now)
}

// Open opens an existing CA in dir. It returns an error wrapping ErrNoCA if dir has
// none, and refuses weak permissions on dir or the key (unix).
func Open(dir string) (*CA, error) {
	if err := CheckPrivateDir(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open CA: %w: %s does not exist", ErrNoCA, dir)
		}
		return nil, err
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open CA: %w (%s)", ErrNoCA, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open CA: %w", err)
	}
	keyPath := filepath.Join(dir, caKeyFile)
	if err := CheckPrivateFile(keyPath); err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("open CA certificate: %w", err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("open CA key: %w", err)
	}
	if !publicKeyEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("open CA: %s does not match %s", caKeyFile, caCertFile)
	}
	return &CA{dir: dir, cert: cert, certPEM: certPEM, key: key, now: time.Now}, nil
}

func create(dir string, now func() time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Carrel hub CA " + host, Organization: []string{"Carrel"}},
		NotBefore:             t.Add(-Backdate),
		NotAfter:              t.Add(CALifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writeKey(filepath.Join(dir, caKeyFile), key); err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der})
	if err := atomicfile.WriteFile(filepath.Join(dir, caCertFile), certPEM, 0o644); err != nil {
		return nil, err
	}
	return &CA{dir: dir, cert: cert, certPEM: certPEM, key: key, now: now}, nil
}

// Cert is the CA certificate.
func (ca *CA) Cert() *x509.Certificate { return ca.cert }

// CertPEM is the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Fingerprint is the CA's SHA-256 fingerprint, what agents pin.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert) }

// Pool is a pool holding only the CA, for tls.Config.ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ServerNames is the full SAN list of the hub's server certificate for the
// configured names: those names first, then localhost, 127.0.0.1, ::1 and the host
// name, without duplicates.
func ServerNames(configured []string) []string {
	var out []string
	add := func(n string) {
		n = strings.TrimSpace(n)
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range configured {
		add(strings.ToLower(n))
	}
	add("localhost")
	add("127.0.0.1")
	add("::1")
	if h, err := os.Hostname(); err == nil {
		add(strings.ToLower(h))
	}
	return out
}

// ServerCertificate returns the hub's TLS certificate for names (see ServerNames),
// with the CA certificate in its chain so agents can find the pinned CA. It reuses
// the stored one unless it is within ServerRenewAt of expiry, names a different set,
// or was not signed by this CA; then it issues a new one (ECDSA P-256, one year,
// ExtKeyUsageServerAuth) and stores it.
func (ca *CA) ServerCertificate(configured []string) (tls.Certificate, error) {
	names := ServerNames(configured)
	certPath, keyPath := filepath.Join(ca.dir, serverCertFile), filepath.Join(ca.dir, serverKeyFile)
	if _, err := os.Lstat(keyPath); err == nil {
		if err := CheckPrivateFile(keyPath); err != nil {
			return tls.Certificate{}, err
		}
	}
	if tc, ok := ca.loadServer(certPath, keyPath, names); ok {
		return tc, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	t := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"Carrel"}},
		NotBefore:    t.Add(-Backdate),
		NotAfter:     t.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der})
	if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// StoredServerCert returns the server certificate on disk, if any, without
// issuing one (for tools that only need its names).
func (ca *CA) StoredServerCert() (*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(ca.dir, serverCertFile))
	if err != nil {
		return nil, fmt.Errorf("read server certificate: %w", err)
	}
	return parseCertPEM(b)
}

func (ca *CA) loadServer(certPath, keyPath string, names []string) (tls.Certificate, bool) {
	b, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, false
	}
	leaf, err := parseCertPEM(b)
	if err != nil || leaf.CheckSignatureFrom(ca.cert) != nil {
		return tls.Certificate{}, false
	}
	if leaf.NotAfter.Sub(ca.now()) < ServerRenewAt {
		return tls.Certificate{}, false
	}
	have := make([]string, 0, len(names))
	have = append(have, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		have = append(have, ip.String())
	}
	want := make([]string, 0, len(names))
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		}
		want = append(want, n)
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) || leaf.Subject.CommonName != names[0] {
		return tls.Certificate{}, false
	}
	key, err := readKey(keyPath)
	if err != nil || !publicKeyEqual(leaf.PublicKey, key.Public()) {
		return tls.Certificate{}, false
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, true
}

// ParseCSR decodes a PEM certificate request, checks its self-signature, and
// accepts only ECDSA P-256/P-384, Ed25519, and RSA keys of at least 2048 bits.
// Errors wrap ErrBadCSR.
func ParseCSR(csrPEM string) (*x509.CertificateRequest, error) {
	if len(csrPEM) > maxCSRPEMLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadCSR, maxCSRPEMLength)
	}
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || (block.Type != pemCSR && block.Type != pemCSRLegacy) {
		return nil, fmt.Errorf("%w: not a PEM %q block", ErrBadCSR, pemCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: bad signature: %v", ErrBadCSR, err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA curve %s is not accepted (P-256 or P-384)", ErrBadCSR, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: RSA key of %d bits is too weak (at least %d)", ErrBadCSR, k.N.BitLen(), MinRSABits)
		}
	default:
		return nil, fmt.Errorf("%w: key type %T is not accepted", ErrBadCSR, csr.PublicKey)
	}
	return csr, nil
}

// SignCSR issues an agent certificate for terminalID from a CSR: the CSR's subject
// and extensions are ignored; CN is the terminal ID, the only extended key usage is
// client authentication, it lives AgentLifetime with NotBefore back-dated, and its
// serial is 128 random bits. serial is SerialHex of the certificate's serial.
func (ca *CA) SignCSR(csrPEM, terminalID string) (certPEM string, serial string, notAfter time.Time, err error) {
	if terminalID == "" {
		return "", "", time.Time{}, errors.New("sign CSR: terminal ID is empty")
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return "", "", time.Time{}, err
	}
	sn, err := randomSerial()
	if err != nil {
		return "", "", time.Time{}, err
	}
	t := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: terminalID, Organization: []string{"Carrel terminal"}},
		NotBefore:    t.Add(-Backdate),
		NotAfter:     t.Add(AgentLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if _, isRSA := csr.PublicKey.(*rsa.PublicKey); isRSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("sign CSR: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der})), SerialHex(sn), tmpl.NotAfter, nil
}

// SerialHex is how serials are written in the hub's store: lowercase hex.
func SerialHex(n *big.Int) string { return n.Text(16) }

func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random serial: %w", err)
	}
	b[0] &= 0x7f // positive, as DER wants
	b[0] |= 0x40 // always 127 bits long, never a short serial
	return new(big.Int).SetBytes(b), nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemCert {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != pemKey {
		return nil, fmt.Errorf("%s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key of type %T cannot sign", path, k)
	}
	return s, nil
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	return atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: der}), 0o600)
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
