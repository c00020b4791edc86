package hub

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// expiredCopy is c's certificate as it would be after the PC was off past its
// end: the same key and terminal, signed by the hub's CA, expired ago, and
// recorded as the terminal's newest certificate (unless superseded is set).
func expiredCopy(t *testing.T, th *testHub, c creds, ago time.Duration, newest bool) creds {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(th.dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	caKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: c.id}, NotBefore: now.Add(-ago - 90*24*time.Hour),
		NotAfter: now.Add(-ago), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, th.CA().Cert(), c.cert.PrivateKey.(crypto.Signer).Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	if newest {
		if err := th.Store().AddCert(context.Background(), c.id, pki.SerialHex(sn), tmpl.NotAfter, "test", nil); err != nil {
			t.Fatal(err)
		}
	}
	leaf, _ := x509.ParseCertificate(der)
	return creds{id: c.id, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: c.cert.PrivateKey, Leaf: leaf}}
}

// renewExpired POSTs a renewal with a fresh CSR under cert.
func (th *testHub) renewExpired(t *testing.T, cert tls.Certificate) (int, tls.Certificate, string, error) {
	t.Helper()
	csr, key := newCSR(t)
	body, _ := json.Marshal(protocol.RenewExpiredRequest{CSR: csr})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: th.clientTLS(&cert)}, Timeout: 10 * time.Second}
	resp, err := client.Post(th.url(protocol.PathRenewExpired), "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, tls.Certificate{}, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var bad protocol.ErrorResponse
		json.NewDecoder(resp.Body).Decode(&bad)
		return resp.StatusCode, tls.Certificate{}, bad.Error, nil
	}
	var ok protocol.EnrollResponse
	json.NewDecoder(resp.Body).Decode(&ok)
	blk, _ := pem.Decode([]byte(ok.Certificate))
	if blk == nil || ok.TerminalID != cert.Leaf.Subject.CommonName {
		t.Fatalf("renewal answered no certificate for its terminal: %+v", ok)
	}
	return resp.StatusCode, tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: key}, "", nil
}

// TestExpiredCertificateComesBack: a PC whose certificate expired while it was
// off cannot hold the link with it, renews it by itself within the grace
// window (audited with when it expired), and is back online with the new
// one; past the window, revoked, superseded or not expired, it may not.
func TestExpiredCertificateComesBack(t *testing.T) {
	th := startHub(t, func(c *Config) { c.ExpiredGrace = 100 * 24 * time.Hour })
	c := th.mustEnroll(t, "pc-summer")
	old := expiredCopy(t, th, c, 20*24*time.Hour, true)

	_, resp, err := th.dial(&old.cert, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("link with an expired certificate: %v %v, want 401", resp, err)
	}
	// A certificate that has not expired renews over the link, not here.
	if code, _, msg, err := th.renewExpired(t, c.cert); err != nil || code != http.StatusConflict {
		t.Fatalf("renew-expired with a valid certificate: %d %q %v", code, msg, err)
	}
	code, fresh, msg, err := th.renewExpired(t, old.cert)
	if err != nil || code != http.StatusOK {
		t.Fatalf("renewal in grace: %d %q %v", code, msg, err)
	}
	th.connect(t, creds{id: c.id, cert: fresh}, 1, nil)
	waitFor(t, 10*time.Second, "the renewed PC online", func() bool { return th.OnlineCount() == 1 })
	rows, _ := th.Store().AuditLog(context.Background(), 0, 100)
	found := false
	for _, r := range rows {
		found = found || (r.Action == protocol.AuditRenew && strings.Contains(r.Detail, `"expired"`) && r.Actor == "terminal:"+c.id)
	}
	if !found {
		t.Fatalf("no audit row for the renewal in grace: %+v", rows)
	}
	// The expired certificate was superseded by the renewal: it cannot renew again.
	if code, _, msg, _ := th.renewExpired(t, old.cert); code != http.StatusForbidden || !strings.Contains(msg, "superseded") {
		t.Fatalf("second renewal from the same expired certificate: %d %q", code, msg)
	}
	// Past the grace window the handshake itself is refused.
	past := expiredCopy(t, th, c, 101*24*time.Hour, true)
	if code, _, msg, err := th.renewExpired(t, past.cert); err == nil {
		t.Fatalf("renewal past the grace window: %d %q", code, msg)
	}
	// A revoked terminal's expired certificate may not renew.
	c2 := th.mustEnroll(t, "pc-stolen")
	old2 := expiredCopy(t, th, c2, 24*time.Hour, true)
	if _, err := th.Revoke(context.Background(), c2.id, "local:test"); err != nil {
		t.Fatal(err)
	}
	if code, _, msg, _ := th.renewExpired(t, old2.cert); code != http.StatusForbidden || !strings.Contains(msg, "revoked") {
		t.Fatalf("renewal of a revoked terminal: %d %q", code, msg)
	}
}
