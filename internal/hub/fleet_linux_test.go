//go:build linux

package hub

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/carrel-kiosk/carrel/internal/pki"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/store"
)

// fleetSpec is what the parent hands the load-generator child (as JSON in a file).
type fleetSpec struct {
	Addr     string   `json:"addr"`
	Pin      string   `json:"pin"`
	IDs      []string `json:"ids"`
	CertPEM  []string `json:"cert_pem"`
	KeyPEM   []string `json:"key_pem"`
	Interval string   `json:"interval"` // between one agent's events
}

// BenchmarkFleet measures the hub with many agents in another process (so the
// hub's memory and CPU are this process's): time per connection while all connect
// at once, resident memory per connected agent, and CPU per stored event while
// every agent sends an event every CARREL_FLEET_INTERVAL (default 5s) for
// CARREL_FLEET_SECONDS (default 20). CARREL_FLEET_AGENTS sets the fleet (default
// 1000; the machine's 20,000 open files per process allow about 9,000 here).
// Run once: go test -run '^$' -bench Fleet -benchtime 1x ./internal/hub
func BenchmarkFleet(b *testing.B) {
	n := envInt("CARREL_FLEET_AGENTS", 1000)
	seconds := envInt("CARREL_FLEET_SECONDS", 20)
	interval := os.Getenv("CARREL_FLEET_INTERVAL")
	if interval == "" {
		interval = "5s"
	}
	th := startHub(b, func(c *Config) { c.Listen = "127.0.0.1:0" })
	ctx := context.Background()
	spec := fleetSpec{Addr: th.Addr().String(), Pin: th.Fingerprint(), Interval: interval}
	for i := 0; i < n; i++ {
		csr, key := newCSR(b)
		id := randomID("t-")
		certPEM, serial, notAfter, err := th.CA().SignCSR(csr, id)
		if err != nil {
			b.Fatal(err)
		}
		if err := th.Store().AddTerminal(ctx, store.Terminal{ID: id, Name: id, OS: "linux", CertSerial: serial, CertNotAfter: notAfter}, "bench"); err != nil {
			b.Fatal(err)
		}
		spec.IDs = append(spec.IDs, id)
		spec.CertPEM = append(spec.CertPEM, certPEM)
		spec.KeyPEM = append(spec.KeyPEM, string(pemKey(b, key)))
	}
	specFile := filepath.Join(b.TempDir(), "fleet.json")
	js, _ := json.Marshal(spec)
	if err := os.WriteFile(specFile, js, 0o600); err != nil {
		b.Fatal(err)
	}
	rssBefore := rss(b)
	cpuBefore := cpuTime()
	child := exec.Command(os.Args[0], "-test.run=^TestFleetChild$", "-test.v")
	child.Env = append(os.Environ(), "CARREL_FLEET_CHILD="+specFile)
	out, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	b.ResetTimer()
	start := time.Now()
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "FAIL") || strings.Contains(sc.Text(), "fleet:") {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}
	}()
	waitFor(b, 10*time.Minute, "the whole fleet connected", func() bool { return th.OnlineCount() == n })
	connect := time.Since(start)
	cpuConnected := cpuTime()
	// Steady state: count stored events over the window.
	evBefore := countAllEvents(b, th)
	cpu0, t0 := cpuTime(), time.Now()
	<-time.After(time.Duration(seconds) * time.Second) // a measuring window, not a synchronisation
	cpu1, t1 := cpuTime(), time.Now()
	evAfter := countAllEvents(b, th)
	b.StopTimer()
	rssAfter := rss(b)
	events := evAfter - evBefore
	b.ReportMetric(float64(connect.Nanoseconds())/float64(n), "ns/connect")
	b.ReportMetric(float64(cpuConnected-cpuBefore)/float64(n)/1e3, "cpu-µs/connect")
	b.ReportMetric(float64(rssAfter-rssBefore)/float64(n), "rss-B/agent")
	b.ReportMetric(100*float64(cpu1-cpu0)/float64(t1.Sub(t0).Nanoseconds()), "%cpu-steady")
	if events > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(events)/1e3, "cpu-µs/event")
	}
	b.ReportMetric(float64(events)/t1.Sub(t0).Seconds(), "events/s")
	b.Logf("fleet of %d: connected in %v; RSS %d → %d MB; %d events in %v", n, connect, rssBefore>>20, rssAfter>>20, events, t1.Sub(t0))
}

// TestFleetChild is BenchmarkFleet's load generator; it runs only as its child.
func TestFleetChild(t *testing.T) {
	path := os.Getenv("CARREL_FLEET_CHILD")
	if path == "" {
		t.Skip("only runs as BenchmarkFleet's child process")
	}
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec fleetSpec
	if err := json.Unmarshal(js, &spec); err != nil {
		t.Fatal(err)
	}
	pin, _ := pki.ParseFingerprint(spec.Pin)
	interval, _ := time.ParseDuration(spec.Interval)
	var wg sync.WaitGroup
	var failed atomic.Int32
	sem := make(chan struct{}, 64) // concurrent handshakes
	for i := range spec.IDs {
		cert, err := tls.X509KeyPair([]byte(spec.CertPEM[i]), []byte(spec.KeyPEM[i]))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(id string, cert tls.Certificate) {
			defer wg.Done()
			sem <- struct{}{}
			cfg := pki.PinnedTLSConfig(pin, "127.0.0.1")
			cfg.Certificates = []tls.Certificate{cert}
			d := websocket.Dialer{TLSClientConfig: cfg, HandshakeTimeout: time.Minute, ReadBufferSize: 1024, WriteBufferSize: 1024}
			ws, _, err := d.Dial("wss://"+spec.Addr+protocol.PathAgent, nil)
			if err == nil {
				hello, _ := protocol.Encode(&protocol.Hello{TerminalID: id, NextSeq: 1, Status: status(id)})
				if err = ws.WriteMessage(websocket.TextMessage, hello); err == nil {
					_, _, err = ws.ReadMessage()
				}
			}
			<-sem
			if err != nil {
				if failed.Add(1) < 5 {
					fmt.Println("fleet: agent failed:", err)
				}
				return
			}
			defer ws.Close()
			time.Sleep(rand.N(interval)) // spread the agents over the interval (pacing, not synchronisation)
			for seq := uint64(1); ; seq++ {
				frame, _ := protocol.Encode(event(seq))
				if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
					return
				}
				if _, _, err := ws.ReadMessage(); err != nil { // the ack
					return
				}
				time.Sleep(interval)
			}
		}(spec.IDs[i], cert)
	}
	wg.Wait()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func rss(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// cpuTime is this process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func countAllEvents(t testing.TB, th *testHub) int {
	n, err := th.Store().TotalEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
