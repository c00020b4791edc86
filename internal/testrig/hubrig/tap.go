package hubrig

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// Tap relays a console's staff traffic to the rig's hub on its own loopback
// address, with the hub's own certificate (so the console pins the same CA),
// and records the console's websocket requests. Setup, login and logout pass
// through unchanged; each staff websocket is relayed frame by frame to a
// websocket of its own to the hub, opened with the console's session, so a
// hub refusal (401) reaches the console as it is.
type Tap struct {
	ln  net.Listener
	srv *http.Server
	hub string // host:port of the hub
	tls *tls.Config
	wg  sync.WaitGroup // relays

	mu     sync.Mutex // guards the fields below
	links  map[*tapLink]bool
	reqs   []protocol.StaffRequest
	dials  int
	closed bool
}

type tapLink struct {
	console, hub *websocket.Conn
	once         sync.Once
}

func (l *tapLink) close() {
	l.once.Do(func() {
		l.console.Close()
		l.hub.Close()
	})
}

// Tap starts a relay to the hub; it stops when t ends.
func (r *Rig) Tap(t testing.TB) *Tap {
	t.Helper()
	cert, err := r.hub.CA().ServerCertificate(nil) // the hub's stored one
	if err != nil {
		t.Fatal(err)
	}
	pin, err := pki.ParseFingerprint(r.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Tap{ln: ln, hub: r.hub.Addr().String(), tls: pki.PinnedTLSConfig(pin, "127.0.0.1"), links: map[*tapLink]bool{}}
	hubURL := &url.URL{Scheme: "https", Host: p.hub}
	rp := httputil.NewSingleHostReverseProxy(hubURL)
	rp.Transport = &http.Transport{TLSClientConfig: p.tls.Clone()}
	rp.ErrorLog = slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)
	mux := http.NewServeMux()
	mux.Handle("/", rp)
	mux.HandleFunc(protocol.PathStaff, p.relay)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}},
		ErrorLog:  slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)}
	go p.srv.ServeTLS(ln, "", "")
	t.Cleanup(p.close)
	return p
}

// URL is the base URL a console uses to reach the hub through the tap.
func (p *Tap) URL() string { return "https://" + p.ln.Addr().String() }

// Dials counts staff websockets the tap relayed (each one the hub accepted).
func (p *Tap) Dials() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// Requests are the staff requests consoles sent, in order.
func (p *Tap) Requests() []protocol.StaffRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// Subscribes are the since_event of every subscription, in order.
func (p *Tap) Subscribes() []int64 {
	var out []int64
	for _, r := range p.Requests() {
		if r.Op != protocol.OpSubscribe {
			continue
		}
		var a protocol.SubscribeArgs
		protocol.DecodeJSON(r.Args, protocol.MaxFrame, &a)
		out = append(out, a.SinceEvent)
	}
	return out
}

// Drop closes every relayed websocket, both sides: the console sees its link
// drop (and redials through the tap), the hub sees the console leave.
func (p *Tap) Drop() {
	p.mu.Lock()
	links := make([]*tapLink, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

func (p *Tap) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.srv.Close()
	p.Drop()
	p.wg.Wait()
}

var tapUpgrader = websocket.Upgrader{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096,
	CheckOrigin: func(*http.Request) bool { return true }} // the hub judges the Origin

func (p *Tap) relay(w http.ResponseWriter, r *http.Request) {
	h := http.Header{}
	for _, k := range []string{"Authorization", "Origin"} {
		if v := r.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	d := websocket.Dialer{TLSClientConfig: p.tls.Clone(), HandshakeTimeout: 10 * time.Second}
	up, resp, err := d.DialContext(r.Context(), "wss://"+p.hub+protocol.PathStaff, h)
	if err != nil {
		code := http.StatusBadGateway
		if resp != nil {
			code = resp.StatusCode
		}
		http.Error(w, "hub: "+err.Error(), code)
		return
	}
	down, err := tapUpgrader.Upgrade(w, r, nil)
	if err != nil {
		up.Close()
		return
	}
	up.SetReadLimit(protocol.MaxStaffFrame)
	down.SetReadLimit(protocol.MaxFrame)
	l := &tapLink{console: down, hub: up}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = true
	p.dials++
	p.wg.Add(1)
	p.mu.Unlock()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		p.wg.Done()
	}()
	go func() {
		defer l.close()
		forward(up, down, nil)
	}()
	forward(down, up, func(data []byte) {
		if req, err := protocol.DecodeStaffRequest(data); err == nil {
			p.mu.Lock()
			p.reqs = append(p.reqs, *req)
			p.mu.Unlock()
		}
	})
}

// forward copies messages from src to dst until either fails, passing a close
// frame on with its code.
func forward(src, dst *websocket.Conn, seen func([]byte)) {
	for {
		kind, data, err := src.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				dst.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ce.Code, ce.Text), time.Now().Add(time.Second))
			}
			return
		}
		if seen != nil {
			seen(data)
		}
		if err := dst.WriteMessage(kind, data); err != nil {
			return
		}
	}
}
