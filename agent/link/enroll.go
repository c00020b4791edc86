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
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Enrollment failures IT can act on; test with errors.Is.
var (
	// ErrWrongHub: the server's certificate chain does not lead to the CA named by
	// the fingerprint. Nothing was sent.
	ErrWrongHub = pki.ErrWrongHub
	// ErrEnrollRefused: the hub answered with a refusal (expired, used up or
	// unknown token, bad request). The error carries the hub's reason.
	ErrEnrollRefused = errors.New("the hub refused the enrollment")
	// ErrHubUnreachable: no TLS connection to the hub could be made.
	ErrHubUnreachable = errors.New("the hub is unreachable")
)

// EnrollOptions are the inputs of Enroll.
type EnrollOptions struct {
	HubURL      string // wss://HOST:PORT
	Token       string
	Fingerprint string // the hub CA's SHA-256 fingerprint, as the console shows it
	StateDir    string // must exist and be private (config.EnsureStateDir)
	Hostname    string // default os.Hostname
	Timeout     time.Duration
}

// Enroll enrolls this agent with the hub and stores its identity in StateDir,
// replacing any previous one. It returns the identity (with the terminal ID the
// hub assigned).
func Enroll(ctx context.Context, opt EnrollOptions) (*Identity, error) {
	pin, err := pki.ParseFingerprint(opt.Fingerprint)
	if err != nil {
		return nil, err
	}
	base, err := hubBase(opt.HubURL)
	if err != nil {
		return nil, err
	}
	if opt.Token == "" {
		return nil, errors.New("enroll: the enrollment token is empty")
	}
	if opt.Hostname == "" {
		opt.Hostname, _ = os.Hostname()
		if opt.Hostname == "" {
			opt.Hostname = "unknown"
		}
	}
	opt.Hostname = protocol.Clip(opt.Hostname, protocol.MaxShortString)
	if opt.Timeout == 0 {
		opt.Timeout = 30 * time.Second
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: opt.Hostname},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	body, err := json.Marshal(protocol.EnrollRequest{
		Token:    opt.Token,
		CSR:      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
		Hostname: opt.Hostname,
		OS:       runtime.GOOS,
	})
	if err != nil {
		return nil, fmt.Errorf("encode enroll request: %w", err)
	}

	host := base.Hostname()
	client := &http.Client{
		Timeout: opt.Timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			TLSClientConfig:   pki.PinnedTLSConfig(pin, host),
			ForceAttemptHTTP2: false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	enrollURL := *base
	enrollURL.Scheme = "https"
	enrollURL.Path = strings.TrimRight(base.Path, "/") + protocol.PathEnroll
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, enrollURL.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, pki.ErrWrongHub) {
			return nil, fmt.Errorf("the hub at %s does not match the fingerprint %s (nothing was sent): %w", base.Host, opt.Fingerprint, err)
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrHubUnreachable, base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxFrame+1))
	if err != nil {
		return nil, fmt.Errorf("%w at %s: reading the answer: %v", ErrHubUnreachable, base.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e protocol.ErrorResponse
		reason := strings.TrimSpace(http.StatusText(resp.StatusCode))
		if protocol.DecodeJSON(data, protocol.MaxFrame, &e) == nil && e.Error != "" {
			reason = protocol.Clip(e.Error, 300)
		}
		return nil, fmt.Errorf("%w (HTTP %d): %s", ErrEnrollRefused, resp.StatusCode, reason)
	}
	var er protocol.EnrollResponse
	if err := protocol.DecodeJSON(data, protocol.MaxFrame, &er); err != nil {
		return nil, fmt.Errorf("enroll: the hub's answer: %w", err)
	}
	if er.TerminalID == "" || len(er.TerminalID) > protocol.MaxShortString {
		return nil, errors.New("enroll: the hub's answer has no valid terminal id")
	}
	ca, err := parseCertPEM([]byte(er.CA))
	if err != nil {
		return nil, fmt.Errorf("enroll: the hub's CA: %w", err)
	}
	if fp, _ := pki.ParseFingerprint(pki.Fingerprint(ca)); fp != pin {
		return nil, fmt.Errorf("enroll: the hub sent a CA that is not the pinned one: %w", pki.ErrWrongHub)
	}
	cert, err := checkAgentCert(er.Certificate, key, ca, er.TerminalID, time.Now())
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}

	agentData, err := agentPEM(cert, key)
	if err != nil {
		return nil, err
	}
	id := &Identity{TerminalID: er.TerminalID, HubURL: opt.HubURL, Fingerprint: pki.Fingerprint(ca), EnrolledAt: time.Now().UTC()}
	idData, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode identity: %w", err)
	}
	// The identity goes last: until it exists the agent is not enrolled.
	for _, f := range []struct {
		name string
		data []byte
	}{{agentPEMFile, agentData}, {caPEMFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})}, {identityFile, idData}} {
		if err := writePrivate(filepath.Join(opt.StateDir, f.name), f.data); err != nil {
			return nil, fmt.Errorf("store identity: %w", err)
		}
	}
	id.Cert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	id.CA = ca
	return id, nil
}

// hubBase parses and checks a wss:// hub URL.
func hubBase(hub string) (*url.URL, error) {
	u, err := url.Parse(hub)
	if err != nil || u.Scheme != "wss" || u.Hostname() == "" {
		return nil, fmt.Errorf("hub url %q: want wss://HOST:PORT", hub)
	}
	return u, nil
}
