package hub

import (
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// BenchmarkStatusPush is the status → console latency: an agent sends a status
// over the real link and a logged-in, subscribed staff websocket client waits
// for the push that carries it. One status in flight at a time, so ns/op is the
// latency. (A copy of this file, unchanged, measures the 2026-11 hub.)
func BenchmarkStatusPush(b *testing.B) {
	sh := startStaffHub(b, nil)
	const pw = "long enough password"
	secret := sh.addStaff(b, "ann", pw, protocol.RoleAdmin)
	con := sh.console(b, sh.mustLogin(b, "ann", pw, secret), nil)
	con.ok(protocol.OpSubscribe, protocol.SubscribeArgs{}, nil)
	a, _ := sh.connect(b, sh.mustEnroll(b, "pc-push"), 1, nil)
	st := status("pc-push")
	wait := func(n int) {
		deadline := time.After(20 * time.Second)
		for {
			select {
			case p := <-con.pushes:
				if p.Terminal != nil && p.Terminal.Status != nil && p.Terminal.Status.Restarts == n {
					return
				}
			case <-deadline:
				b.Fatalf("status %d not pushed within 20 s", n)
			}
		}
	}
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		s := st
		s.Restarts = i
		a.send(&s)
		wait(i)
	}
}
