package api

import (
	"context"
	"net/http"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// healthz is GET /healthz: the hub answers, nothing more (liveness).
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if _, err := decodeQuery(r.URL.RawQuery, nil, s.cfg.Now()); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.APIHealth{OK: true})
}

// readyWithin caches /readyz's checks: it is open to anyone, and a check
// writes to the store.
const readyWithin = time.Second

// readyz is GET /readyz: the store takes a write, and the ILS answers where
// one is configured; 503 naming what failed otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if _, err := decodeQuery(r.URL.RawQuery, nil, s.cfg.Now()); err != nil {
		s.fail(w, err)
		return
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	now := time.Now()
	if s.readyAt.IsZero() || now.Sub(s.readyAt) > readyWithin {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		res := protocol.APIHealth{OK: true, Checks: map[string]string{}}
		check := func(name string, err error) {
			if err != nil {
				res.OK = false
				res.Checks[name] = protocol.Clip(err.Error(), 200)
				return
			}
			res.Checks[name] = "ok"
		}
		check("store", s.store.CheckWritable(ctx))
		if s.cfg.ILSReady != nil {
			check("ils", s.cfg.ILSReady(ctx))
		}
		s.readyAt, s.readyRes = now, res
	}
	code := http.StatusOK
	if !s.readyRes.OK {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, s.readyRes)
}
