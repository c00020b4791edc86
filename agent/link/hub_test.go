package link

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// tempDir is t.TempDir that tolerates a failing cleanup: under Wine os.RemoveAll
// fails with "Invalid function", which would fail every test.
func tempDir(t testing.TB) string { return winetest.TempDir(t) }

// testHub is a small hub speaking the real protocol over real mutual TLS, with
// a CA from internal/pki. It can be stopped and restarted on the same address.
type testHub struct {
	t     testing.TB
	ca    *pki.CA
	addr  string
	token string

	mu          sync.Mutex
	srv         *http.Server
	conns       map[*websocket.Conn]bool
	enrollCalls int
	agentDials  int
	origins     []string
	extensions  []string
	hellos      []protocol.Hello
	events      []protocol.Event // every event frame received, in order, duplicates included
	stored      map[uint64]bool
	acked       uint64 // what Welcome reports
	autoAck     bool
	statuses    []protocol.Status
	results     []protocol.Result
	renews      []protocol.Renew
	revoked     bool
	noPong      bool           // ignore the agent's pings, like a hung hub
	dropAfter   bool           // close every connection right after Welcome
	clientCAs   *x509.CertPool // when set, TLS demands a client certificate from this pool
	locked      bool
	serial      int
	signIns     []protocol.SignIn
	// answer, when set, answers a sign-in (nil: no answer at all).
	answer func(protocol.SignIn) protocol.Message
}

func newTestHub(t testing.TB) *testHub {
	t.Helper()
	ca, err := pki.LoadOrCreate(tempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	h := &testHub{t: t, ca: ca, token: "good-token", stored: map[uint64]bool{}, autoAck: true, conns: map[*websocket.Conn]bool{}}
	h.start("127.0.0.1:0")
	t.Cleanup(h.stop)
	return h
}

func (h *testHub) url() string { return "wss://" + h.addr }

func (h *testHub) fingerprint() string { return h.ca.Fingerprint() }

func (h *testHub) start(addr string) {
	h.t.Helper()
	cert, err := h.ca.ServerCertificate(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the old port may linger briefly after a stop
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathEnroll, h.enroll)
	mux.HandleFunc("GET "+protocol.PathAgent, h.agent)
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: h.ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS13}
	h.mu.Lock()
	if h.clientCAs != nil {
		tlsConf.ClientCAs, tlsConf.ClientAuth = h.clientCAs, tls.RequireAndVerifyClientCert
	}
	h.mu.Unlock()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: tlsConf}
	srv.SetKeepAlivesEnabled(false)
	h.mu.Lock()
	h.srv = srv
	h.addr = ln.Addr().String()
	h.mu.Unlock()
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
}

// stop closes the listener and every connection, like a hub process exiting.
func (h *testHub) stop() {
	h.mu.Lock()
	srv := h.srv
	conns := h.conns
	h.conns = map[*websocket.Conn]bool{}
	h.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	for c := range conns {
		c.Close()
	}
}

func (h *testHub) restart() {
	h.stop()
	h.start(h.addr)
}

func (h *testHub) enroll(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.enrollCalls++
	h.mu.Unlock()
	body, _ := io.ReadAll(io.LimitReader(r.Body, protocol.MaxFrame))
	var req protocol.EnrollRequest
	if err := protocol.DecodeJSON(body, protocol.MaxFrame, &req); err != nil || req.Validate() != nil {
		writeJSON(w, http.StatusBadRequest, protocol.ErrorResponse{Error: "bad request"})
		return
	}
	if req.Token != h.token {
		writeJSON(w, http.StatusUnauthorized, protocol.ErrorResponse{Error: "enrollment token expired"})
		return
	}
	h.mu.Lock()
	h.serial++
	id := "term-" + string(rune('0'+h.serial))
	h.mu.Unlock()
	certPEM, _, _, err := h.ca.SignCSR(req.CSR, id)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, protocol.ErrorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, protocol.EnrollResponse{TerminalID: id, Certificate: certPEM, CA: string(h.ca.CertPEM())})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (h *testHub) agent(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.agentDials++
	h.origins = append(h.origins, r.Header.Get("Origin"))
	h.extensions = append(h.extensions, r.Header.Get("Sec-WebSocket-Extensions"))
	revoked := h.revoked
	h.mu.Unlock()
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.Header.Get("Origin") != "" {
		http.Error(w, "client certificate required", http.StatusUnauthorized)
		return
	}
	if revoked {
		http.Error(w, "certificate revoked", http.StatusForbidden)
		return
	}
	terminal := r.TLS.PeerCertificates[0].Subject.CommonName
	up := websocket.Upgrader{HandshakeTimeout: 5 * time.Second}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(protocol.MaxFrame)
	h.mu.Lock()
	if h.noPong {
		ws.SetPingHandler(func(string) error { return nil })
	}
	h.mu.Unlock()
	defer func() {
		ws.Close()
		h.mu.Lock()
		delete(h.conns, ws)
		h.mu.Unlock()
	}()

	_, data, err := ws.ReadMessage()
	if err != nil {
		return
	}
	m, err := protocol.Decode(data)
	hello, ok := m.(*protocol.Hello)
	if err != nil || !ok || hello.TerminalID != terminal {
		h.t.Errorf("test hub: first frame is not a valid hello: %v %T", err, m)
		return
	}
	h.mu.Lock()
	h.hellos = append(h.hellos, *hello)
	welcome := &protocol.Welcome{TerminalID: terminal, AckedSeq: h.acked, HubTime: time.Now(), Locked: h.locked}
	h.mu.Unlock()
	if err := h.write(ws, welcome); err != nil {
		return
	}
	h.mu.Lock()
	h.conns[ws] = true // only now may the test send to it
	h.mu.Unlock()
	h.mu.Lock()
	drop := h.dropAfter
	h.mu.Unlock()
	if drop {
		return
	}
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		m, err := protocol.Decode(data)
		if err != nil {
			h.t.Errorf("test hub: bad frame from agent: %v", err)
			return
		}
		if !protocol.FromAgent(m.MsgType()) {
			h.t.Errorf("test hub: agent sent %s", m.MsgType())
		}
		h.mu.Lock()
		var reply protocol.Message
		switch m := m.(type) {
		case *protocol.Event:
			h.events = append(h.events, *m)
			h.stored[m.Seq] = true
			if h.autoAck {
				h.acked = max(h.acked, m.Seq)
				reply = &protocol.Ack{Seq: m.Seq}
			}
		case *protocol.Status:
			h.statuses = append(h.statuses, *m)
		case *protocol.Result:
			h.results = append(h.results, *m)
		case *protocol.Renew:
			h.renews = append(h.renews, *m)
			certPEM, _, _, err := h.ca.SignCSR(m.CSR, terminal)
			if err != nil {
				h.t.Errorf("test hub: renew: %v", err)
			} else {
				reply = &protocol.Cert{Certificate: certPEM}
			}
		case *protocol.SignIn:
			h.signIns = append(h.signIns, *m)
			if h.answer != nil {
				reply = h.answer(*m)
			}
		case *protocol.Hello:
			h.t.Errorf("test hub: second hello")
		}
		h.mu.Unlock()
		if reply != nil {
			if err := h.write(ws, reply); err != nil {
				return
			}
		}
	}
}

var writeMu sync.Mutex // the test hub serialises its writes across goroutines

func (h *testHub) write(ws *websocket.Conn, m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		h.t.Errorf("test hub: encode %s: %v", m.MsgType(), err)
		return err
	}
	return h.writeRaw(ws, b)
}

func (h *testHub) writeRaw(ws *websocket.Conn, b []byte) error {
	writeMu.Lock()
	defer writeMu.Unlock()
	ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return ws.WriteMessage(websocket.TextMessage, b)
}

// broadcast sends a raw frame to every open agent connection.
func (h *testHub) broadcastRaw(b []byte) int {
	h.mu.Lock()
	conns := make([]*websocket.Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	n := 0
	for _, c := range conns {
		if h.writeRaw(c, b) == nil {
			n++
		}
	}
	return n
}

func (h *testHub) send(m protocol.Message) {
	h.t.Helper()
	b, err := protocol.Encode(m)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.broadcastRaw(b) == 0 {
		h.t.Fatal("test hub: no agent connected")
	}
}

func (h *testHub) connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

func (h *testHub) snapshot() (events []protocol.Event, results []protocol.Result, hellos []protocol.Hello) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]protocol.Event(nil), h.events...), append([]protocol.Result(nil), h.results...), append([]protocol.Hello(nil), h.hellos...)
}

func (h *testHub) result(id string) (protocol.Result, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.results {
		if r.ID == id {
			return r, true
		}
	}
	return protocol.Result{}, false
}

// waitResult waits for the result of command id.
func (h *testHub) waitResult(t testing.TB, id string) protocol.Result {
	t.Helper()
	var r protocol.Result
	testbin.WaitFor(t, 10*time.Second, "result of "+id, func() bool {
		var ok bool
		r, ok = h.result(id)
		return ok
	})
	return r
}
