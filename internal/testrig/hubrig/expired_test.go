package hubrig

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestExpiredCertificateRenewsItself: a PC switched off through the end of its
// certificate's life (here: its agent.pem replaced by the same key's
// certificate, expired 40 days ago, as the hub's newest for it) comes back
// with the real link client: it renews at the hub by itself, is online, and
// its new certificate is valid and stored; the hub audited the renewal with
// when the old one expired.
func TestExpiredCertificateRenewsItself(t *testing.T) {
	r := Start(t, Options{})
	x := r.AddTerminal(t, "pc-summer", protocol.Status{Session: protocol.SessionFree})
	x.Disconnect(t)

	pemPath := filepath.Join(x.StateDir(), "agent.pem")
	cur, err := tls.LoadX509KeyPair(pemPath, pemPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(r.DataDir(), "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	caKey, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	expiredAt := time.Now().Add(-40 * 24 * time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: x.ID}, NotBefore: expiredAt.Add(-90 * 24 * time.Hour),
		NotAfter: expiredAt, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.Hub().CA().Cert(), cur.PrivateKey.(crypto.Signer).Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(cur.PrivateKey)
	old := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	if err := os.WriteFile(pemPath, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Hub().Store().AddCert(context.Background(), x.ID, pki.SerialHex(sn), expiredAt, "test", nil); err != nil {
		t.Fatal(err)
	}

	x.Connect(t) // waits for the hub's Welcome
	testbin.WaitFor(t, Wait, "the renewed certificate stored", func() bool {
		c, err := tls.LoadX509KeyPair(pemPath, pemPath)
		return err == nil && c.Leaf != nil && c.Leaf.NotAfter.After(time.Now().Add(80*24*time.Hour))
	})
	rows, err := r.Hub().Store().AuditLog(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.Action == protocol.AuditRenew && row.Actor == "terminal:"+x.ID && strings.Contains(row.Detail, expiredAt.UTC().Format(time.RFC3339)) {
			return
		}
	}
	t.Fatalf("no audit row of the renewal in grace: %+v", rows)
}
