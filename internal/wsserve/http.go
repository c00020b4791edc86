// Package wsserve is what the hub's two servers on one TLS listener, the agent
// link (internal/hub) and the staff API (internal/staffapi), share for serving
// untrusted peers: the writing half of a websocket with a bounded queue (Peer),
// the close codes, JSON error answers, per-address rate limits, and a log that
// does not repeat one peer's warning every second.
package wsserve

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// HTTPError answers an HTTP request with code and a protocol.ErrorResponse.
func HTTPError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: msg})
}

// WriteJSON answers an HTTP request with code and v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// RemoteIP is the host part of an http.Request's RemoteAddr.
func RemoteIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// RateLimiter is a token bucket per key (a remote address, a user name tried).
type RateLimiter struct {
	perSec float64
	burst  float64

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewRateLimiter allows burst attempts at once per key, refilled at perSec.
func NewRateLimiter(perSec float64, burst int) *RateLimiter {
	return &RateLimiter{perSec: perSec, burst: float64(burst), buckets: map[string]*bucket{}}
}

// Allow takes one token of key's bucket at now, or says false when it is empty.
func (l *RateLimiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > 10000 {
		for k, b := range l.buckets {
			if now.Sub(b.last) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.perSec)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
