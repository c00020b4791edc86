package link

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"testing"
)

// A resumed TLS session carries the certificate it was made with: a renewed
// certificate gets a session cache of its own.
func TestSessionCacheFollowsTheCertificate(t *testing.T) {
	c := &Client{id: &Identity{Cert: tls.Certificate{Leaf: &x509.Certificate{SerialNumber: big.NewInt(1)}}}}
	first := c.sessionsFor()
	if c.sessionsFor() != first {
		t.Fatal("the same certificate got a new session cache")
	}
	c.id.Cert = tls.Certificate{Leaf: &x509.Certificate{SerialNumber: big.NewInt(2)}}
	if c.sessionsFor() == first {
		t.Fatal("a renewed certificate kept the old certificate's sessions")
	}
}
