package hub

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/testrig/sip2emu"
)

// benchILS is an emulator that answers each patron request after delay,
// with one card per PC.
func benchILS(b *testing.B, pcs int, delay time.Duration) *sip2emu.Server {
	var ps []sip2emu.Patron
	for i := range pcs {
		c := strconv.Itoa(100000 + i)
		ps = append(ps, sip2emu.Patron{Card: c, PIN: "1234", Name: "Bench " + c})
	}
	emu, err := sip2emu.Start(sip2emu.Options{Quirks: sip2emu.QuirksFor("koha"), User: "hub", Password: "pw", Institution: "lib", Patrons: ps})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { emu.Close() })
	emu.SetDelay(delay)
	return emu
}

func benchSignInHub(b *testing.B, emu *sip2emu.Server, pool int) *testHub {
	p, _ := sip2.ProfileByName("koha")
	return startHub(b, func(c *Config) {
		c.SIP2 = &sip2.Config{Addr: emu.Addr(), Profile: p, User: "hub", Password: "pw", Institution: "lib", PoolSize: pool,
			Backoff: backoff.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}}
	})
}

func pct(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkSignInBurst: 1,000 card sign-ins through one hub from 50 PCs at
// once (each signs in 20 times in a row, as fast as answers come), the
// emulated ILS answering each lookup in 100 ms, over real mutual-TLS
// websockets; the p50/p99 of the round trip as an agent sees it (sign-in sent
// → answer read), and the SIP2 connections the hub opened. With PoolSize n the
// hub answers about n × 10 sign-ins a second; 1,000 in the first minute after
// opening need 17 a second.
func BenchmarkSignInBurst(b *testing.B) {
	for _, pool := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("pool=%d", pool), func(b *testing.B) {
			const pcs, each = 50, 20
			emu := benchILS(b, pcs, 100*time.Millisecond)
			th := benchSignInHub(b, emu, pool)
			agents := make([]*testAgent, pcs)
			for i := range agents {
				agents[i], _ = th.connect(b, th.mustEnroll(b, fmt.Sprintf("pc-%03d", i)), 1, nil)
			}
			b.ResetTimer()
			for range b.N {
				var mu sync.Mutex
				var lat []time.Duration
				refused := map[protocol.Refusal]int{}
				var wg sync.WaitGroup
				start := time.Now()
				for i, a := range agents {
					wg.Add(1)
					go func() {
						defer wg.Done()
						card := strconv.Itoa(100000 + i)
						for j := range each {
							t0 := time.Now()
							a.send(&protocol.SignIn{ID: "s-" + strconv.Itoa(j), Card: card, PIN: "1234"})
							ans := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer)
							d := time.Since(t0)
							mu.Lock()
							lat = append(lat, d)
							if ans.Refusal != "" {
								refused[ans.Refusal]++
							}
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				took := time.Since(start)
				b.ReportMetric(float64(pct(lat, 0.50).Milliseconds()), "p50-ms")
				b.ReportMetric(float64(pct(lat, 0.99).Milliseconds()), "p99-ms")
				b.ReportMetric(float64(len(lat))/took.Seconds(), "signins/s")
				b.ReportMetric(float64(emu.Stats().Connections), "sip2-conns")
				n := 0
				for _, c := range refused {
					n += c
				}
				b.ReportMetric(float64(n), "refused")
				if n > 0 {
					b.Logf("refusals: %v", refused)
				}
			}
		})
	}
}

// BenchmarkSignInLatency: one PC signs in again and again, the ILS answering
// in 100 ms; the hub's own share of the round trip (agent → hub → ILS → hub →
// agent, minus the emulator's 100 ms) is what the hub adds.
func BenchmarkSignInLatency(b *testing.B) {
	const ilsDelay = 100 * time.Millisecond
	emu := benchILS(b, 1, ilsDelay)
	th := benchSignInHub(b, emu, 2)
	a, _ := th.connect(b, th.mustEnroll(b, "pc-1"), 1, nil)
	// One to open the SIP2 connection (login, 99/98) before the clock runs.
	a.send(&protocol.SignIn{ID: "warm", Card: "100000", PIN: "1234"})
	a.expect(protocol.TypeSignInAnswer)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		a.send(&protocol.SignIn{ID: "s-" + strconv.Itoa(i), Card: "100000", PIN: "1234"})
		if ans := a.expect(protocol.TypeSignInAnswer).(*protocol.SignInAnswer); ans.Grant == nil {
			b.Fatalf("refused: %s", ans.Refusal)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(ilsDelay.Milliseconds()), "ils-ms")
	b.ReportMetric(float64(pct(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64((pct(lat, 0.50)-ilsDelay).Microseconds())/1000, "hub-p50-ms")
}
