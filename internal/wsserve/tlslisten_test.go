package wsserve

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/pki"
)

// tlsPair makes a server config and a client config that trusts it.
func tlsPair(t *testing.T) (srv, cli *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
		&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
}

func listen(t *testing.T, srv *tls.Config, opt TLSListenerOptions) *TLSListener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewTLSListener(inner, srv, opt)
	t.Cleanup(func() { l.Close() })
	return l
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echo serves every accepted connection by echoing a line back.
func echo(l *TLSListener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if !c.(*tls.Conn).ConnectionState().HandshakeComplete {
				return
			}
			io.Copy(c, c)
		}()
	}
}

func TestTLSListenerHandsOverFinishedHandshakes(t *testing.T) {
	srv, cli := tlsPair(t)
	l := listen(t, srv, TLSListenerOptions{Workers: 4})
	go echo(l)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.Dial("tcp", l.Addr().String(), cli)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte("hi")); err != nil {
				errs <- err
				return
			}
			buf := make([]byte, 2)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}
}

// The point of the listener: connections keep being taken off the kernel's
// queue while every handshake worker is busy, and Close lets none of them hang.
func TestTLSListenerAcceptsWhileWorkersAreBusy(t *testing.T) {
	srv, _ := tlsPair(t)
	l := listen(t, srv, TLSListenerOptions{Workers: 1, Timeout: time.Minute})
	go echo(l)
	var clients []net.Conn
	dial := func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	dial() // sends no ClientHello: holds the only worker
	waitUntil(t, "the worker to take the silent connection", func() bool { return l.Waiting() == 0 })
	for range 50 {
		dial()
	}
	waitUntil(t, "50 connections accepted while the worker is busy", func() bool { return l.Waiting() == 50 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("client %d: read data after Close", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("client %d: connection left open after Close", i)
		}
		c.Close()
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close returned a connection")
	}
}

// The handshake timeout counts from accept, time waiting for a worker included:
// a connection not done by then is closed unanswered, and the next one is served.
func TestTLSListenerTimeoutCountsTheWait(t *testing.T) {
	srv, cli := tlsPair(t)
	l := listen(t, srv, TLSListenerOptions{Workers: 1, Timeout: 300 * time.Millisecond})
	go echo(l)
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitUntil(t, "the worker to take the silent connection", func() bool { return l.Waiting() == 0 })
	late, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	// Its deadline passes, in the queue or in a handshake that started late.
	late.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := late.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stale connection got an answer")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the stale connection was never closed")
	}
	c, err := tls.Dial("tcp", l.Addr().String(), cli)
	if err != nil {
		t.Fatalf("a fresh connection after the stale ones: %v", err)
	}
	c.Close()
}
