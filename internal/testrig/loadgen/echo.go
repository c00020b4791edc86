package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// EchoOptions configure EchoServer.
type EchoOptions struct {
	HubData string // the hub's CA and server certificate are used (same mutual TLS)
	Listen  string // 127.0.0.1:PORT
	BufSize int    // websocket read and write buffers; default 1024, as the hub (2026-11)
	// NoWritePool gives every connection its own write buffer; by default they
	// come from a sync.Pool, as in the hub (2026-11).
	NoWritePool bool
	Out         io.Writer
}

// EchoServer is the memory baseline: a bare gorilla/websocket server on the same
// mutual TLS as the hub (TLS 1.3, the hub CA's ECDSA P-256 server certificate,
// client certificates required and verified against the hub CA), one goroutine
// per connection that reads every frame. It answers the link's Hello with a
// Welcome, so the same real link clients can hold connections to it, and
// otherwise only reads: it acknowledges nothing, so no event leaves an outbox
// because of it. No store, no registry, no writer goroutine.
func EchoServer(ctx context.Context, opt EchoOptions) error {
	if opt.BufSize <= 0 {
		opt.BufSize = 1024
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	ca, err := pki.Open(opt.HubData)
	if err != nil {
		return err
	}
	cert, err := ca.ServerCertificate(nil)
	if err != nil {
		return err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(), NextProtos: []string{"http/1.1"},
	}
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return err
	}
	var conns atomic.Int64
	up := websocket.Upgrader{HandshakeTimeout: 10 * time.Second, ReadBufferSize: opt.BufSize, WriteBufferSize: opt.BufSize}
	if !opt.NoWritePool {
		up.WriteBufferPool = &sync.Pool{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.PathAgent, func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		conns.Add(1)
		defer conns.Add(-1)
		ws.SetReadLimit(protocol.MaxFrame)
		for {
			ws.SetReadDeadline(time.Now().Add(90 * time.Second))
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			m, err := protocol.Decode(data)
			if err != nil {
				return
			}
			if h, ok := m.(*protocol.Hello); ok {
				b, _ := protocol.Encode(&protocol.Welcome{TerminalID: h.TerminalID, HubTime: time.Now().UTC()})
				ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
					return
				}
			}
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(opt.Out, "echo-server listening on %s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, cfg)) }()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			srv.Close()
			<-done
			return nil
		case err := <-done:
			return err
		case <-t.C:
			fmt.Fprintf(opt.Out, "echo-server: %d connections\n", conns.Load())
		}
	}
}
