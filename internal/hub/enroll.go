package hub

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
	"github.com/carrel-kiosk/carrel/internal/wsserve"
)

// MaxEnrollBody is the largest enrollment request body read.
const MaxEnrollBody = 32 << 10

// enrollError is an answer to a refused enrollment: an HTTP status and a message
// IT can act on.
type enrollError struct {
	status int
	msg    string
}

func (e *enrollError) Error() string { return e.msg }

// decodeEnroll reads and checks an enrollment request body, up to checking the CSR.
func decodeEnroll(body []byte) (*protocol.EnrollRequest, error) {
	var req protocol.EnrollRequest
	if err := protocol.DecodeJSON(body, MaxEnrollBody, &req); err != nil {
		if errors.Is(err, protocol.ErrTooLarge) {
			return nil, &enrollError{http.StatusBadRequest, fmt.Sprintf("request body larger than %d bytes", MaxEnrollBody)}
		}
		return nil, &enrollError{http.StatusBadRequest, "malformed enrollment request: " + err.Error()}
	}
	if err := req.Validate(); err != nil {
		return nil, &enrollError{http.StatusBadRequest, err.Error()}
	}
	if _, err := pki.ParseCSR(req.CSR); err != nil {
		return nil, &enrollError{http.StatusBadRequest, err.Error()}
	}
	return &req, nil
}

func (h *Hub) handleEnroll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		wsserve.HTTPError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	ip := wsserve.RemoteIP(r.RemoteAddr)
	if !h.limit.Allow(ip, time.Now()) {
		w.Header().Set("Retry-After", "60")
		wsserve.HTTPError(w, http.StatusTooManyRequests, "too many enrollment attempts from this address; wait a minute")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEnrollBody+1))
	if err != nil {
		wsserve.HTTPError(w, http.StatusBadRequest, fmt.Sprintf("request body unreadable or larger than %d bytes", MaxEnrollBody))
		return
	}
	resp, err := h.enroll(r, ip, body)
	if err != nil {
		var ee *enrollError
		if !errors.As(err, &ee) {
			h.log.Error("Enrollment failed", "remote", ip, "err", err)
			wsserve.HTTPError(w, http.StatusInternalServerError, "hub error; see the hub's log")
			return
		}
		h.quiet.Warn(ip+ee.msg, "Enrollment refused", "remote", ip, "status", ee.status, "reason", ee.msg)
		wsserve.HTTPError(w, ee.status, ee.msg)
		return
	}
	wsserve.WriteJSON(w, http.StatusOK, resp)
}

func (h *Hub) enroll(r *http.Request, ip string, body []byte) (*protocol.EnrollResponse, error) {
	req, err := decodeEnroll(body)
	if err != nil {
		return nil, err
	}
	hash, err := pki.HashToken(req.Token)
	if err != nil {
		return nil, &enrollError{http.StatusUnauthorized, "enrollment token unknown (check it was copied whole)"}
	}
	branch, err := h.store.RedeemBranchToken(r.Context(), hash)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrTokenUnknown):
		return nil, &enrollError{http.StatusUnauthorized, "enrollment token unknown (check it was copied whole)"}
	case errors.Is(err, store.ErrTokenExpired):
		return nil, &enrollError{http.StatusForbidden, "enrollment token expired; create a new one with 'carrel-hub token create'"}
	case errors.Is(err, store.ErrTokenUsedUp):
		return nil, &enrollError{http.StatusForbidden, err.Error() + "; create a new one with 'carrel-hub token create'"}
	default:
		return nil, err
	}
	id := randomID("t-")
	certPEM, serial, notAfter, err := h.ca.SignCSR(req.CSR, id)
	if err != nil {
		return nil, err
	}
	if err := h.store.AddTerminal(r.Context(), store.Terminal{ID: id, Name: req.Hostname, OS: req.OS, CertSerial: serial, CertNotAfter: notAfter, Branch: branch}, "enroll:"+ip); err != nil {
		return nil, err
	}
	h.log.Info("Terminal enrolled", "terminal", id, "name", req.Hostname, "os", req.OS, "remote", ip)
	return &protocol.EnrollResponse{TerminalID: id, Certificate: certPEM, CA: string(h.ca.CertPEM())}, nil
}
