package link

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"path/filepath"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// renewRetry is how long the agent waits for a Cert before asking again.
const renewRetry = time.Hour

type renewState struct {
	key    *ecdsa.PrivateKey
	sentAt time.Time
}

// renewAt is two thirds into the certificate's life.
func renewAt(cert *x509.Certificate) time.Time {
	return cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) * 2 / 3)
}

// renewLoop asks the hub for a fresh certificate, over this live connection,
// once two thirds of the current one's life have passed.
func (c *Client) renewLoop(ctx context.Context, send func(protocol.Message) error) error {
	for {
		now := c.now()
		c.mu.Lock()
		due := renewAt(c.id.Cert.Leaf)
		pending := c.renewKey
		c.mu.Unlock()
		wait := due.Sub(now)
		if wait <= 0 && pending != nil && now.Sub(pending.sentAt) < renewRetry {
			wait = renewRetry - now.Sub(pending.sentAt)
		}
		if wait > 0 {
			t := time.NewTimer(min(wait, renewRetry))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
				continue
			}
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c.id.TerminalID}}, key)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.renewKey = &renewState{key: key, sentAt: now}
		c.mu.Unlock()
		c.log.Info("Renewing certificate", "expires", c.cert().Leaf.NotAfter)
		if err := send(&protocol.Renew{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}); err != nil {
			return nil
		}
	}
}

// renewed installs a certificate the hub sent in answer to Renew: it must be for
// the pending key, chain to the pinned CA and name this terminal. It is stored
// (key and certificate in one atomic file) and used from the next connection.
func (c *Client) renewed(m *protocol.Cert) {
	c.mu.Lock()
	pending := c.renewKey
	c.mu.Unlock()
	if pending == nil {
		c.log.Warn("Certificate from hub without a renewal request; ignored")
		return
	}
	cert, err := checkAgentCert(m.Certificate, pending.key, c.id.CA, c.id.TerminalID, c.now())
	if err != nil {
		c.log.Error("Renewed certificate refused", "err", err)
		return
	}
	data, err := agentPEM(cert, pending.key)
	if err == nil {
		err = writePrivate(filepath.Join(c.opt.StateDir, agentPEMFile), data)
	}
	if err != nil {
		c.log.Error("Renewed certificate not stored", "err", err)
		return
	}
	c.mu.Lock()
	c.id.Cert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: pending.key, Leaf: cert}
	c.renewKey = nil
	c.mu.Unlock()
	c.log.Info("Certificate renewed", "expires", cert.NotAfter)
	if c.opt.OnCert != nil {
		c.opt.OnCert(cert)
	}
}
