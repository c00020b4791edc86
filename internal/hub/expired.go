package hub

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// A PC switched off for the last month of its certificate's life comes back
// with an expired certificate. Within Config.ExpiredGrace of the expiry it may
// renew it by itself at PathRenewExpired: the handshake proves it holds the
// old certificate's key, the certificate must chain to this CA, be the
// terminal's newest and not be revoked. The renewal is audited with when the
// old one expired. Past the grace window, or revoked, the PC is enrolled again
// by a person.

// verifyClient checks a client certificate, if one is given: it must chain to
// the CA for client auth now, or be one the CA signed for client auth that
// expired within the grace window (the CA itself valid now).
func (h *Hub) verifyClient(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // enrollment and the staff API need none
	}
	leaf := cs.PeerCertificates[0]
	_, err := leaf.Verify(x509.VerifyOptions{Roots: h.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.Expired {
		return err
	}
	now, ca := time.Now(), h.ca.Cert()
	switch {
	case !now.After(leaf.NotAfter) || now.Sub(leaf.NotAfter) > h.cfg.ExpiredGrace:
		return err // not yet valid, or expired too long ago
	case now.Before(ca.NotBefore) || now.After(ca.NotAfter):
		return err // the CA itself is not valid now
	case !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
		return err
	}
	if serr := leaf.CheckSignatureFrom(ca); serr != nil {
		return serr
	}
	return nil // expired within grace: good for PathRenewExpired only
}

// expired says whether a verified client certificate is past its validity
// (and so only good for PathRenewExpired).
func expired(leaf *x509.Certificate, now time.Time) bool {
	return now.After(leaf.NotAfter) || now.Before(leaf.NotBefore)
}

func (h *Hub) handleRenewExpired(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		wsserve.HTTPError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	ip := wsserve.RemoteIP(r.RemoteAddr)
	if !h.limit.Allow(ip, time.Now()) {
		w.Header().Set("Retry-After", "60")
		wsserve.HTTPError(w, http.StatusTooManyRequests, "too many attempts from this address; wait a minute")
		return
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		wsserve.HTTPError(w, http.StatusUnauthorized, "present the expired agent certificate as the client certificate")
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	if !expired(leaf, time.Now()) {
		wsserve.HTTPError(w, http.StatusConflict, "certificate has not expired: it is renewed over the agent link")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEnrollBody+1))
	var req protocol.RenewExpiredRequest
	if err == nil {
		err = protocol.DecodeJSON(body, MaxEnrollBody, &req)
	}
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		wsserve.HTTPError(w, http.StatusBadRequest, "malformed renewal request")
		return
	}
	serial := pki.SerialHex(leaf.SerialNumber)
	term, revoked, err := h.store.TerminalByCert(r.Context(), serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.quiet.Warn(serial, "Expired certificate unknown, renewal refused", "serial", serial, "remote", ip)
		wsserve.HTTPError(w, http.StatusForbidden, "certificate unknown to this hub")
		return
	case err != nil:
		h.log.Error("Store lookup failed", "serial", serial, "err", err)
		wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub store unavailable; try again later")
		return
	case revoked:
		h.quiet.Warn(term.ID, "Revoked terminal refused renewal", "terminal", term.ID, "serial", serial, "remote", ip)
		wsserve.HTTPError(w, http.StatusForbidden, "certificate revoked: enroll this PC again")
		return
	case leaf.Subject.CommonName != term.ID:
		wsserve.HTTPError(w, http.StatusForbidden, "certificate does not name its terminal")
		return
	case term.CertSerial != serial:
		// An older certificate of a terminal that has renewed since: whoever
		// holds it is not the PC as it is now.
		h.quiet.Warn(term.ID, "Superseded certificate refused renewal", "terminal", term.ID, "serial", serial, "remote", ip)
		wsserve.HTTPError(w, http.StatusForbidden, "certificate superseded by a newer one: enroll this PC again")
		return
	}
	certPEM, newSerial, notAfter, err := h.ca.SignCSR(req.CSR, term.ID)
	if err != nil {
		wsserve.HTTPError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.store.AddCert(r.Context(), term.ID, newSerial, notAfter, "terminal:"+term.ID,
		map[string]string{protocol.AuditKeyExpired: leaf.NotAfter.UTC().Format(time.RFC3339)}); err != nil {
		h.log.Error("Store renewed certificate failed", "terminal", term.ID, "err", err)
		wsserve.HTTPError(w, http.StatusServiceUnavailable, "hub store unavailable; try again later")
		return
	}
	h.live.renewed(term.ID, notAfter)
	h.changed(term.ID)
	h.log.Warn("Expired certificate renewed in grace", "terminal", term.ID, "name", term.Name,
		"expired", leaf.NotAfter.UTC(), "serial", newSerial, "notAfter", notAfter, "remote", ip)
	wsserve.WriteJSON(w, http.StatusOK, protocol.EnrollResponse{TerminalID: term.ID, Certificate: certPEM, CA: string(h.ca.CertPEM())})
}

// refuseExpired answers an agent that dialled the link with an expired
// certificate (one in the grace window gets this far).
func refuseExpired(w http.ResponseWriter, leaf *x509.Certificate) {
	wsserve.HTTPError(w, http.StatusUnauthorized, fmt.Sprintf("certificate expired %s: renew it at %s",
		leaf.NotAfter.UTC().Format(time.RFC3339), protocol.PathRenewExpired))
}
