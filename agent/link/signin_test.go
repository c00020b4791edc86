package link

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestSignInOverTheLink: a sign-in goes to the hub over the real mutual-TLS
// websocket and its answer comes back to the caller; the hub's grant updates
// reach OnGrant; with no link the caller learns it at once; and the PIN is
// not in the agent's log.
func TestSignInOverTheLink(t *testing.T) {
	h := newTestHub(t)
	dir := tempDir(t)
	enroll(t, h, dir)
	var mu sync.Mutex
	var updates []protocol.Grant
	a := startAgent(t, h, dir, func(o *Options) {
		o.OnGrant = func(g protocol.Grant) { mu.Lock(); updates = append(updates, g); mu.Unlock() }
	})
	ctx := context.Background()

	// Before the link is up: no link.
	if _, err := a.client.SignIn(ctx, protocol.SignIn{ID: "s-0", Card: "21234000012345", PIN: "9731"}); !errors.Is(err, ErrNoLink) {
		t.Fatalf("sign-in without a link: %v", err)
	}
	grant := protocol.Grant{ID: "g-1", Terminal: "term-1", Kind: protocol.PatronCard, Patron: "p-1", Issued: time.Now(),
		Ends: time.Now().Add(time.Hour), Seconds: 3600, EndsBy: "session", Sig: "c2ln"}
	h.mu.Lock()
	h.answer = func(s protocol.SignIn) protocol.Message {
		if s.Guest != "" {
			return &protocol.SignInAnswer{ID: s.ID, Refusal: protocol.RefuseGuestExpired}
		}
		if s.PIN == "" {
			return nil // the hub never answers: the caller's deadline
		}
		return &protocol.SignInAnswer{ID: s.ID, Grant: &grant}
	}
	h.mu.Unlock()
	a.run(t)
	testbin.WaitFor(t, 10*time.Second, "connection", func() bool { return h.connected() == 1 })

	ans, err := a.client.SignIn(ctx, protocol.SignIn{ID: "s-1", Card: "21234000012345", PIN: "9731"})
	if err != nil || ans.Grant == nil || ans.Grant.ID != "g-1" {
		t.Fatalf("SignIn = %+v, %v", ans, err)
	}
	ans, err = a.client.SignIn(ctx, protocol.SignIn{ID: "s-2", Guest: "GUEST-1"})
	if err != nil || ans.Refusal != protocol.RefuseGuestExpired {
		t.Fatalf("guest SignIn = %+v, %v", ans, err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = a.client.SignIn(short, protocol.SignIn{ID: "s-3", Card: "21234000012345"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered SignIn: %v", err)
	}
	h.mu.Lock()
	got := append([]protocol.SignIn(nil), h.signIns...)
	h.mu.Unlock()
	if len(got) != 3 || got[0].PIN != "9731" || got[0].Card != "21234000012345" {
		t.Errorf("hub got %+v", got)
	}

	h.send(&protocol.GrantUpdate{Grant: grant})
	testbin.WaitFor(t, 10*time.Second, "the grant update", func() bool { mu.Lock(); defer mu.Unlock(); return len(updates) == 1 })

	// The link goes down while a sign-in waits: it fails at once, not at
	// its deadline.
	h.mu.Lock()
	h.answer = func(protocol.SignIn) protocol.Message { return nil }
	h.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, err := a.client.SignIn(ctx, protocol.SignIn{ID: "s-4", Card: "21234000012345", PIN: "9731"})
		errc <- err
	}()
	testbin.WaitFor(t, 10*time.Second, "the fourth sign-in at the hub", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.signIns) == 4 })
	h.stop()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNoLink) {
			t.Errorf("sign-in when the link dropped: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sign-in still waiting after the link dropped")
	}
	if logs := a.logs.String(); strings.Contains(logs, "9731") || strings.Contains(logs, "21234000012345") {
		t.Error("the PIN or the card is in the agent's log")
	}
}

// BenchmarkSignInRoundTrip is a sign-in over the real mutual-TLS link: the
// agent's SignIn → the hub's frame → its answer → the caller has it. The hub
// answers at once ("instant") or after 100 ms, as a SIP2 server might; the
// p50 and p99 are reported.
func BenchmarkSignInRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{{"instant", 0}, {"hub-100ms", 100 * time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) {
			h := newTestHub(b)
			dir := tempDir(b)
			enroll(b, h, dir)
			grant := protocol.Grant{ID: "g-1", Terminal: "term-1", Kind: protocol.PatronCard, Patron: "p-1", Issued: time.Now(),
				Ends: time.Now().Add(time.Hour), Seconds: 3600, EndsBy: "session", Sig: "c2ln"}
			h.mu.Lock()
			h.answer = func(s protocol.SignIn) protocol.Message {
				time.Sleep(c.delay) // the hub's reader waits, as for a slow ILS
				return &protocol.SignInAnswer{ID: s.ID, Grant: &grant}
			}
			h.mu.Unlock()
			a := startAgent(b, h, dir, nil)
			a.run(b)
			testbin.WaitFor(b, 10*time.Second, "connection", func() bool { return h.connected() == 1 })
			ctx := context.Background()
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := a.client.SignIn(ctx, protocol.SignIn{ID: "s-" + strconv.Itoa(i), Card: "21234000012345", PIN: "9731"}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
