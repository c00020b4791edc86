package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// ErrBadAuditHead says an audit head's signature is not the CA's.
var ErrBadAuditHead = errors.New("audit head not signed by this hub's CA")

// SignAuditHead signs the statement that the audit chain's row seq has hash at
// t, with the CA key (see protocol.AuditHead).
func (ca *CA) SignAuditHead(seq int64, hash []byte, t time.Time) (protocol.AuditHead, error) {
	h := protocol.AuditHead{Seq: seq, Hash: hash, Time: t.UTC().Truncate(time.Millisecond)}
	sum := sha256.Sum256(h.SignedBytes())
	sig, err := ca.key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return h, fmt.Errorf("sign audit head: %w", err)
	}
	h.Sig = sig
	return h, nil
}

// VerifyAuditHead checks that h was signed by the CA whose certificate is
// caCert (the one agents and consoles pin).
func VerifyAuditHead(caCert *x509.Certificate, h protocol.AuditHead) error {
	pub, ok := caCert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the CA key is not ECDSA", ErrBadAuditHead)
	}
	sum := sha256.Sum256(h.SignedBytes())
	if !ecdsa.VerifyASN1(pub, sum[:], h.Sig) {
		return ErrBadAuditHead
	}
	return nil
}
