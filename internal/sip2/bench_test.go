package sip2_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/sip2"
	"github.com/carrel-kiosk/carrel/internal/testrig/sip2emu"
)

// BenchmarkAuthenticate measures one card lookup through the pool against
// the emulator over loopback, answering at once and after 100 ms (an ILS
// under load), and reports the p50/p99 of the lookups next to ns/op. Run it
// under the shared lock:
//
//	flock /tmp/carrel-bench.lock go test -run '^$' -bench Authenticate -benchtime 200x ./internal/sip2
func BenchmarkAuthenticate(b *testing.B) {
	for _, bc := range []struct {
		name  string
		delay time.Duration
	}{{"instant", 0}, {"delay100ms", 100 * time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			o := sip2emu.Options{Quirks: sip2emu.QuirksFor(sip2.ProfileKoha), User: "hub", Password: "pw",
				Institution: "lib", Patrons: []sip2emu.Patron{{Card: "1001", PIN: "1001", Name: "A"}}}
			emu, err := sip2emu.Start(o)
			if err != nil {
				b.Fatal(err)
			}
			defer emu.Close()
			emu.SetDelay(bc.delay)
			p, _ := sip2.ProfileByName(sip2.ProfileKoha)
			cli, err := sip2.New(sip2.Config{Addr: emu.Addr(), Profile: p, User: "hub", Password: "pw", Institution: "lib"})
			if err != nil {
				b.Fatal(err)
			}
			defer cli.Close()
			ctx := context.Background()
			if _, err := cli.Authenticate(ctx, "1001", "1001"); err != nil { // connect and log in first
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				pt, err := cli.Authenticate(ctx, "1001", "1001")
				lat = append(lat, time.Since(start))
				if err != nil || pt.Outcome != sip2.OutcomeOK {
					b.Fatalf("%+v, %v", pt, err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(bc.delay.Milliseconds()), "emu-delay-ms")
		})
	}
}

// BenchmarkAuthenticateBurst sends 100 lookups at once (the doors open)
// against the emulator answering in 100 ms, through pools of 2 and 8
// connections: one connection carries one lookup at a time, so a pool of
// n answers n lookups per 100 ms, and what waits longer than the timeout
// (5 s) fails. It reports p50/p99 of the lookups that succeeded, the
// failures and the connections the emulator saw.
//
//	flock /tmp/carrel-bench.lock go test -run '^$' -bench AuthenticateBurst -benchtime 1x ./internal/sip2
func BenchmarkAuthenticateBurst(b *testing.B) {
	const burst = 100
	for _, pool := range []int{2, 8} {
		b.Run("pool"+strconv.Itoa(pool), func(b *testing.B) {
			o := sip2emu.Options{Quirks: sip2emu.QuirksFor(sip2.ProfileKoha), User: "hub", Password: "pw",
				Institution: "lib", Patrons: []sip2emu.Patron{{Card: "1001", PIN: "1001", Name: "A"}}}
			emu, err := sip2emu.Start(o)
			if err != nil {
				b.Fatal(err)
			}
			defer emu.Close()
			emu.SetDelay(100 * time.Millisecond)
			p, _ := sip2.ProfileByName(sip2.ProfileKoha)
			cli, err := sip2.New(sip2.Config{Addr: emu.Addr(), Profile: p, User: "hub", Password: "pw",
				Institution: "lib", PoolSize: pool})
			if err != nil {
				b.Fatal(err)
			}
			defer cli.Close()
			var lat []time.Duration
			failed := 0
			for range b.N {
				var mu sync.Mutex
				var wg sync.WaitGroup
				for range burst {
					wg.Add(1)
					go func() {
						defer wg.Done()
						start := time.Now()
						_, err := cli.Authenticate(context.Background(), "1001", "1001")
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							failed++
							return
						}
						lat = append(lat, time.Since(start))
					}()
				}
				wg.Wait()
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
				b.ReportMetric(float64(lat[(len(lat)*99)/100].Milliseconds()), "p99-ms")
			}
			b.ReportMetric(float64(failed)/float64(b.N), "failed/burst")
			b.ReportMetric(float64(emu.Stats().Connections), "connections")
		})
	}
}
