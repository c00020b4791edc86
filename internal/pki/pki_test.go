package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newCA(t testing.TB) *CA {
	t.Helper()
	ca, err := LoadOrCreate(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func csrPEM(t testing.TB, key crypto.Signer, cn string) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: cn},
		DNSNames: []string{"evil.example"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFingerprintRoundTrip(t *testing.T) {
	ca := newCA(t)
	fp := ca.Fingerprint()
	if len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q: want 64 lowercase hex", fp)
	}
	sum := sha256.Sum256(ca.Cert().Raw)
	var colons []string
	for _, b := range sum {
		colons = append(colons, strings.ToUpper(string("0123456789abcdef"[b>>4])+string("0123456789abcdef"[b&15])))
	}
	for _, in := range []string{fp, strings.ToUpper(fp), "sha256:" + fp, "SHA256:" + strings.Join(colons, ":"), " " + fp + "\n"} {
		got, err := ParseFingerprint(in)
		if err != nil {
			t.Errorf("ParseFingerprint(%q): %v", in, err)
			continue
		}
		if got != sum {
			t.Errorf("ParseFingerprint(%q) = %x, want %x", in, got, sum)
		}
	}
}

var badFingerprints = []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("a", 63), strings.Repeat("a", 66),
	"sha1:" + strings.Repeat("a", 64), "aa:" + strings.Repeat("a", 62), strings.Repeat("a", 62) + "::"}

func TestParseFingerprintRejects(t *testing.T) {
	for _, in := range badFingerprints {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", in)
		}
	}
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("sha256:" + strings.Repeat("AB:", 31) + "AB")
	for _, s := range badFingerprints {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		// Whatever was accepted must print back to a form that parses to the same bytes.
		again, err := ParseFingerprint(strings.ToUpper(string(hexOf(fp[:]))))
		if err != nil || again != fp {
			t.Fatalf("round trip of %q: %x %v", s, again, err)
		}
	})
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

func pin(t testing.TB, ca *CA) [32]byte {
	p, err := ParseFingerprint(ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyPinned(t *testing.T) {
	ca := newCA(t)
	srv, err := ca.ServerCertificate([]string{"hub.library.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(srv.Certificate) != 2 || string(srv.Certificate[1]) != string(ca.Cert().Raw) {
		t.Fatal("server chain must carry the CA certificate second")
	}
	for _, name := range []string{"hub.library.example", "localhost", "127.0.0.1", "::1"} {
		got, err := VerifyPinned(srv.Certificate, pin(t, ca), name)
		if err != nil {
			t.Errorf("VerifyPinned(%s): %v", name, err)
		} else if Fingerprint(got) != ca.Fingerprint() {
			t.Errorf("VerifyPinned returned the wrong CA")
		}
	}

	other := newCA(t)
	otherSrv, err := other.ServerCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	agentPEM, _, _, err := ca.SignCSR(csrPEM(t, p256(t), "x"), "t-1")
	if err != nil {
		t.Fatal(err)
	}
	agentCert, err := parseCertPEM([]byte(agentPEM))
	if err != nil {
		t.Fatal(err)
	}
	wrongPin := pin(t, ca)
	wrongPin[0] ^= 1
	cases := []struct {
		name  string
		chain [][]byte
		pin   [32]byte
		host  string
	}{
		{"pin mismatch", srv.Certificate, wrongPin, "localhost"},
		{"another CA's hub", otherSrv.Certificate, pin(t, ca), "localhost"},
		{"another CA's hub carrying our CA", [][]byte{otherSrv.Certificate[0], ca.Cert().Raw}, pin(t, ca), "localhost"},
		{"agent cert as server cert", [][]byte{agentCert.Raw, ca.Cert().Raw}, pin(t, ca), "t-1"},
		{"wrong host name", srv.Certificate, pin(t, ca), "elsewhere.example"},
		{"CA alone", [][]byte{ca.Cert().Raw}, pin(t, ca), "localhost"},
		{"empty chain", nil, pin(t, ca), "localhost"},
		{"garbage", [][]byte{[]byte("junk")}, pin(t, ca), "localhost"},
	}
	for _, c := range cases {
		if _, err := VerifyPinned(c.chain, c.pin, c.host); !errors.Is(err, ErrWrongHub) {
			t.Errorf("%s: err = %v, want ErrWrongHub", c.name, err)
		}
	}
}

// TestPinnedTLSHandshake runs a real TLS handshake on loopback with the pinned config.
func TestPinnedTLSHandshake(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	srv, _ := ca.ServerCertificate(nil)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), PinnedTLSConfig(pin(t, ca), "127.0.0.1"))
	if err != nil {
		t.Fatalf("pinned dial to the right hub: %v", err)
	}
	c.Close()
	if c, err := tls.Dial("tcp", ln.Addr().String(), PinnedTLSConfig(pin(t, other), "127.0.0.1")); err == nil {
		c.Close()
		t.Fatal("pinned dial accepted a hub of another CA")
	} else if !strings.Contains(err.Error(), "not the one the CA fingerprint names") {
		t.Fatalf("error does not say why: %v", err)
	}
}

func TestSignCSR(t *testing.T) {
	ca := newCA(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, key := range map[string]crypto.Signer{"p256": p256(t), "p384": p384, "ed25519": edKey} {
		certPEM, serial, notAfter, err := ca.SignCSR(csrPEM(t, key, "admin"), "t-0123456789abcdef")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c, err := parseCertPEM([]byte(certPEM))
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject.CommonName != "t-0123456789abcdef" || len(c.DNSNames) != 0 {
			t.Errorf("%s: subject/SANs from the CSR leaked: %v %v", name, c.Subject, c.DNSNames)
		}
		if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
			t.Errorf("%s: ExtKeyUsage %v, want ClientAuth only", name, c.ExtKeyUsage)
		}
		if SerialHex(c.SerialNumber) != serial || c.SerialNumber.BitLen() < 120 {
			t.Errorf("%s: serial %s (%d bits)", name, serial, c.SerialNumber.BitLen())
		}
		if !c.NotAfter.Equal(notAfter.Truncate(time.Second)) && c.NotAfter.Sub(notAfter).Abs() > time.Second {
			t.Errorf("%s: notAfter %v vs %v", name, c.NotAfter, notAfter)
		}
		life := c.NotAfter.Sub(c.NotBefore)
		if life < AgentLifetime || life > AgentLifetime+Backdate+time.Second || time.Until(c.NotBefore) > -59*time.Minute {
			t.Errorf("%s: validity %v..%v", name, c.NotBefore, c.NotAfter)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: does not verify as a client cert: %v", name, err)
		}
	}
}

func TestSignCSRRefuses(t *testing.T) {
	ca := newCA(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	good := csrPEM(t, p256(t), "x")
	block, _ := pem.Decode([]byte(good))
	block.Bytes[len(block.Bytes)-3] ^= 0xff // break the signature
	tampered := string(pem.EncodeToMemory(block))
	for name, in := range map[string]string{
		"weak RSA":   csrPEM(t, weak, "x"),
		"P-224":      csrPEM(t, p224, "x"),
		"tampered":   tampered,
		"not PEM":    "hello",
		"wrong type": strings.Replace(good, "CERTIFICATE REQUEST", "CERTIFICATE", -1),
	} {
		if _, _, _, err := ca.SignCSR(in, "t-1"); !errors.Is(err, ErrBadCSR) {
			t.Errorf("%s: err = %v, want ErrBadCSR", name, err)
		}
	}
	if _, err := ParseCSR(csrPEM(t, weak, "x")); err == nil || !strings.Contains(err.Error(), "1024 bits is too weak") {
		t.Errorf("weak RSA error does not say why: %v", err)
	}
}

func FuzzParseCSR(f *testing.F) {
	f.Add(csrPEM(f, p256(f), "seed"))
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		csr, err := ParseCSR(s)
		if err == nil && csr.CheckSignature() != nil {
			t.Fatal("accepted a CSR whose signature does not check")
		}
	})
}

func TestCAPersistsAndServerCertReissue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ca, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode: %v %v", f, fi.Mode(), err)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v", fi.Mode())
	}
	c := ca.Cert()
	if !c.IsCA || c.PublicKeyAlgorithm != x509.ECDSA || c.NotAfter.Sub(c.NotBefore) < CALifetime || time.Until(c.NotBefore) > -59*time.Minute {
		t.Fatalf("CA shape: isCA=%v alg=%v %v..%v", c.IsCA, c.PublicKeyAlgorithm, c.NotBefore, c.NotAfter)
	}
	s1, err := ca.ServerCertificate([]string{"hub.example"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() {
		t.Fatal("CA changed on reopen")
	}
	s2, _ := again.ServerCertificate([]string{"HUB.example"})
	if string(s2.Certificate[0]) != string(s1.Certificate[0]) {
		t.Fatal("server certificate re-issued although nothing changed")
	}
	s3, _ := again.ServerCertificate([]string{"hub2.example"})
	if string(s3.Certificate[0]) == string(s1.Certificate[0]) || s3.Leaf.Subject.CommonName != "hub2.example" {
		t.Fatal("server certificate not re-issued when names changed")
	}
	// Near expiry: move the CA's clock forward.
	again.now = func() time.Time { return time.Now().Add(ServerLifetime - ServerRenewAt + time.Hour) }
	s4, _ := again.ServerCertificate([]string{"hub2.example"})
	if string(s4.Certificate[0]) == string(s3.Certificate[0]) {
		t.Fatal("server certificate not re-issued within 30 days of expiry")
	}
	if s4.Leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Fatal("server certificate lacks ServerAuth")
	}
}

func TestTokens(t *testing.T) {
	tok, h, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 52 || strings.Contains(tok, "=") {
		t.Fatalf("token %q: want 52 base32 chars, no padding", tok)
	}
	for _, in := range []string{tok, strings.ToLower(tok), " " + tok + "\n"} {
		got, err := HashToken(in)
		if err != nil || !TokenHashEqual(got[:], h[:]) {
			t.Errorf("HashToken(%q) = %x, %v", in, got, err)
		}
	}
	tok2, h2, _ := NewToken()
	if tok2 == tok || TokenHashEqual(h[:], h2[:]) {
		t.Fatal("two tokens equal")
	}
	for _, bad := range []string{"", tok[:50], tok + "AA", "!" + tok[1:]} {
		if _, err := HashToken(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("HashToken(%q) = %v, want ErrBadToken", bad, err)
		}
	}
}
