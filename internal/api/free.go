package api

import (
	_ "embed"
	"net/http"
)

//go:embed free.html
var freeHTML []byte

//go:embed openapi.json
var openAPI []byte

// serveFree is the free PCs page: plain HTML and a script, no outside assets.
// The page reads its key (and optional branch) from its own URL and follows
// the feed; it needs no key to be fetched itself, only to show anything.
func (s *Server) serveFree(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	w.Write(freeHTML)
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(openAPI)
}
