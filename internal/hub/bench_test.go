package hub

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// benchEvent is the frame the event benchmarks send (and the echo benchmark echoes).
func benchEvent(b *testing.B, seq uint64) []byte {
	frame, err := protocol.Encode(event(seq))
	if err != nil {
		b.Fatal(err)
	}
	return frame
}

func readAck(b *testing.B, ws *websocket.Conn, seq uint64) {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		m, err := protocol.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		if ack, ok := m.(*protocol.Ack); ok && ack.Seq >= seq {
			return
		}
	}
}

func benchAgent(b *testing.B, th *testHub) *websocket.Conn {
	c := th.mustEnroll(b, "bench")
	ws, _, err := th.dial(&c.cert, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.Close() })
	hello, _ := protocol.Encode(&protocol.Hello{TerminalID: c.id, NextSeq: 1, Status: status("bench")})
	if err := ws.WriteMessage(websocket.TextMessage, hello); err != nil {
		b.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // Welcome
		b.Fatal(err)
	}
	return ws
}

// BenchmarkEventRoundTrip: one agent sends an event, the hub stores it (its own
// SQLite transaction, since nothing else is queued) and acks; the agent waits for
// the ack before the next.
func BenchmarkEventRoundTrip(b *testing.B) {
	th := startHub(b, nil)
	ws := benchAgent(b, th)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, benchEvent(b, uint64(i))); err != nil {
			b.Fatal(err)
		}
		readAck(b, ws, uint64(i))
	}
}

// BenchmarkEventPipelined: the agent sends events without waiting (as it drains
// its outbox after a reconnect) and waits for the last ack; group commit batches
// them. Reported per event.
func BenchmarkEventPipelined(b *testing.B) {
	th := startHub(b, nil)
	ws := benchAgent(b, th)
	done := make(chan struct{})
	b.ResetTimer()
	go func() {
		defer close(done)
		readAck(b, ws, uint64(b.N))
	}()
	for i := 1; i <= b.N; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, benchEvent(b, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// BenchmarkCommandRoundTrip: SendCommand(ping) → agent → Result, including the
// audit record and stored command before sending and the outcome after.
func BenchmarkCommandRoundTrip(b *testing.B) {
	th := startHub(b, nil)
	c := th.mustEnroll(b, "bench")
	th.connect(b, c, 1, pong)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r, err := th.SendCommand(ctx, c.id, protocol.ActionPing, nil, "bench"); err != nil || !r.OK {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkBareEcho is the floor for BenchmarkEventRoundTrip: a bare gorilla
// websocket echo server over the same mutual TLS (hub CA, server and client
// certificates, TLS 1.3) with the same frame, and no decoding or storing.
func BenchmarkBareEcho(b *testing.B) {
	th := startHub(b, nil)
	c := th.mustEnroll(b, "bench")
	srvCert, err := th.CA().ServerCertificate(nil)
	if err != nil {
		b.Fatal(err)
	}
	up := websocket.Upgrader{HandshakeTimeout: 10 * time.Second}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.SetReadLimit(protocol.MaxFrame)
		for {
			kind, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(kind, data); err != nil {
				return
			}
		}
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{srvCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: th.CA().Pool()}
	srv.StartTLS()
	defer srv.Close()
	d := websocket.Dialer{TLSClientConfig: th.clientTLS(&c.cert)}
	ws, _, err := d.Dial("wss://"+srv.Listener.Addr().String()+"/", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, benchEvent(b, uint64(i))); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnectAgents connects b.N agents (mutual-TLS handshake, Hello,
// Welcome) and keeps them all connected, reporting the time per connection and the
// heap per connected agent. The agents run in this process too, so B/agent counts
// both ends of each connection. Run it with a fixed count: -benchtime 2000x.
func BenchmarkConnectAgents(b *testing.B) {
	th := startHub(b, nil)
	ctx := context.Background()
	type agent struct {
		id   string
		cert tls.Certificate
	}
	agents := make([]agent, b.N)
	for i := range agents {
		csr, key := newCSR(b)
		id := randomID("t-")
		certPEM, serial, notAfter, err := th.CA().SignCSR(csr, id)
		if err != nil {
			b.Fatal(err)
		}
		if err := th.Store().AddTerminal(ctx, store.Terminal{ID: id, Name: id, OS: "linux", CertSerial: serial, CertNotAfter: notAfter}, "bench"); err != nil {
			b.Fatal(err)
		}
		cert, err := tls.X509KeyPair([]byte(certPEM), pemKey(b, key))
		if err != nil {
			b.Fatal(err)
		}
		agents[i] = agent{id, cert}
	}
	conns := make([]*websocket.Conn, 0, b.N)
	defer func() {
		for _, ws := range conns {
			ws.Close()
		}
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for _, a := range agents {
		ws, _, err := th.dial(&a.cert, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, ws)
		hello, _ := protocol.Encode(&protocol.Hello{TerminalID: a.id, NextSeq: 1, Status: status(a.id)})
		if err := ws.WriteMessage(websocket.TextMessage, hello); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	waitFor(b, 30*time.Second, "all agents registered", func() bool { return len(th.Online()) == b.N })
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "B/agent")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(b.N), "goroutines/agent")
}
