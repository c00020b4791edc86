package link

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// A PC that was off through the end of its certificate's life comes back with
// an expired certificate: the link would be refused. Before dialling, an agent
// whose certificate has expired asks the hub for a new one at
// protocol.PathRenewExpired, presenting the expired certificate (the hub
// accepts it there, within its grace window, unless it is revoked), and uses
// the new one from then on. Past the hub's grace window it is enrolled again
// by hand.

// renewExpired gets a fresh certificate for an expired one.
func (c *Client) renewExpired(ctx context.Context) error {
	base, err := hubBase(c.opt.HubURL)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c.id.TerminalID}}, key)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(protocol.RenewExpiredRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	roots := x509.NewCertPool()
	roots.AddCert(c.id.CA)
	old := c.cert()
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: false, TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: base.Hostname(),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &old, nil },
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	u := *base
	u.Scheme = "https"
	u.Path = strings.TrimRight(base.Path, "/") + protocol.PathRenewExpired
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if isCertRefusal(err) {
			return &RefusedError{Reason: "expired certificate refused, past the hub's grace window? " + err.Error()}
		}
		return fmt.Errorf("renew expired certificate: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxFrame+1))
	if err != nil {
		return fmt.Errorf("renew expired certificate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e protocol.ErrorResponse
		reason := http.StatusText(resp.StatusCode)
		if protocol.DecodeJSON(data, protocol.MaxFrame, &e) == nil && e.Error != "" {
			reason = protocol.Clip(e.Error, 300)
		}
		err := fmt.Errorf("renew expired certificate (HTTP %d): %s", resp.StatusCode, reason)
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
			return &RefusedError{Reason: err.Error()}
		}
		return err
	}
	var er protocol.EnrollResponse
	if err := protocol.DecodeJSON(data, protocol.MaxFrame, &er); err != nil {
		return fmt.Errorf("renew expired certificate: the hub's answer: %w", err)
	}
	cert, err := checkAgentCert(er.Certificate, key, c.id.CA, c.id.TerminalID, c.now())
	if err != nil {
		return fmt.Errorf("renew expired certificate: %w", err)
	}
	pemData, err := agentPEM(cert, key)
	if err == nil {
		err = writePrivate(filepath.Join(c.opt.StateDir, agentPEMFile), pemData)
	}
	if err != nil {
		return fmt.Errorf("renewed certificate not stored: %w", err)
	}
	c.mu.Lock()
	c.id.Cert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	c.renewKey = nil
	c.mu.Unlock()
	c.log.Warn("Certificate had expired while the PC was off; the hub renewed it", "expired", old.Leaf.NotAfter, "expires", cert.NotAfter)
	if c.opt.OnCert != nil {
		c.opt.OnCert(cert)
	}
	return nil
}
