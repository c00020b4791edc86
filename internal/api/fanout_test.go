package api

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// retried counts feed opens that failed at the transport and were retried.
var retried atomic.Int64

// lightFeed is a feed client that keeps nothing but counts: the 1,000 of
// them must cost the test little.
type lightFeed struct {
	events  atomic.Int64 // events after the snapshot
	dropped atomic.Bool
	closed  chan struct{}
}

func openLight(t testing.TB, cli *http.Client, base, key string, snapshot int, onEvent func(line string)) *lightFeed {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+PathFeed, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := cli.Do(req)
	if err != nil {
		// Seen under -race on this loaded 2-core VM, 1 in ~1,000 opens:
		// "local error: tls: bad record MAC" from the client's handshake
		// (2026-12: not understood; never seen without -race, nor in the
		// hub's 1,000-feed benchmark). The connection is refused, nothing
		// wrong is delivered; the test says how often and tries once more.
		retried.Add(1)
		t.Logf("feed open failed, retrying once: %v", err)
		req, _ = http.NewRequest(http.MethodGet, base+PathFeed, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if resp, err = cli.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("feed: %s: %s", resp.Status, b)
	}
	lf := &lightFeed{closed: make(chan struct{})}
	ready := make(chan struct{})
	t.Cleanup(func() { resp.Body.Close(); <-lf.closed })
	go func() {
		defer close(lf.closed)
		br := bufio.NewReaderSize(resp.Body, 4096)
		seen := 0
		if snapshot == 0 {
			close(ready)
		}
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				if seen < snapshot {
					close(ready)
				}
				return
			}
			if !strings.HasPrefix(string(line), "event: ") {
				if onEvent != nil && strings.HasPrefix(string(line), "data: ") && seen > snapshot {
					onEvent(string(line))
				}
				continue
			}
			seen++
			if seen == snapshot {
				close(ready)
			}
			if string(line) == "event: dropped\n" {
				lf.dropped.Store(true)
			} else if seen > snapshot {
				lf.events.Add(1)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("no snapshot within 60 s")
	}
	return lf
}

// slowFeed asks for a feed and never reads it, with a small receive buffer.
func slowFeed(t testing.TB, addr, key string) net.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.(*net.TCPConn).SetReadBuffer(4096)
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\n\r\n", PathFeed, key)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFeedThousandClientsBoundedAndSlowOnesDropped: 1,000 clients of one
// branch get every event of theirs; clients of another branch that never read
// are flooded with 10 MB of events and dropped, each having held at most its
// queue; the hub's heap does not grow with what they did not read.
func TestFeedThousandClientsBoundedAndSlowOnesDropped(t *testing.T) {
	const fast, slow, queue = 1000, 8, 16
	// A generous write deadline: under -race on a loaded machine a fast client's
	// first writes can take seconds; the slow ones are dropped by their full
	// queue, not by the deadline.
	r := newRig(t, Config{FeedQueue: queue, WriteWait: 10 * time.Second, FeedRing: 64, KeyPerSec: 1e6, KeyBurst: 1e6})
	south, err := r.st.CreateAPIKey(t.Context(), "south sign", "south", "admin")
	if err != nil {
		t.Fatal(err)
	}
	tr := r.cli.Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = fast
	cli := &http.Client{Transport: tr}
	feeds := make([]*lightFeed, fast)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range feeds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			feeds[i] = openLight(t, cli, r.srv.URL, r.north.Key, 2, nil)
		}()
	}
	wg.Wait()
	t.Logf("%d feeds open in %v (%d retried)", fast, time.Since(start).Round(time.Millisecond), retried.Load())
	if retried.Load() > 5 {
		t.Fatalf("%d of %d feed opens failed at the transport", retried.Load(), fast)
	}
	for i := 0; i < slow; i++ {
		slowFeed(t, r.srv.Listener.Addr().String(), south.Key)
	}
	waitLong(t, func() string {
		if st := r.api.FeedStats(); st.Clients != fast+slow {
			return fmt.Sprintf("every client subscribed (%d of %d; %d dropped)", st.Clients, fast+slow, st.Dropped)
		}
		return ""
	})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	big := strings.Repeat("x", 2000)
	maxQueued := 0
	const flood = 5000
	for i := 0; i < flood; i++ {
		r.api.feed.publish(protocol.FeedEvent{Kind: protocol.FeedState, Time: time.Now(), Terminal: "t-3", Name: big,
			Branch: "south", State: protocol.StateFree, Online: true})
		if i%100 == 0 {
			st := r.api.FeedStats()
			maxQueued = max(maxQueued, st.Queued)
			if st.Queued > st.Clients*queue {
				t.Fatalf("%d frames queued for %d clients of queue %d", st.Queued, st.Clients, queue)
			}
		}
	}
	const north = queue / 2 // a burst within the queue
	for i := 0; i < north; i++ {
		r.api.feed.publish(protocol.FeedEvent{Kind: protocol.FeedState, Time: time.Now(), Terminal: "t-1", Name: "north-1",
			Branch: "north", State: protocol.StateInUse, Online: true})
	}
	waitFor(t, "the slow clients dropped", func() bool { st := r.api.FeedStats(); return st.Dropped == slow && st.Clients == fast })
	for i, f := range feeds {
		waitFor(t, fmt.Sprintf("fast client %d's events", i), func() bool { return f.events.Load() == north })
		if f.dropped.Load() {
			t.Fatalf("fast client %d dropped", i)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d clients, %d slow dropped; %d MB flooded; most frames queued at once %d; heap grew %d KB",
		fast, slow, flood*len(big)>>20, maxQueued, grew>>10)
	// Unbounded queues would hold the flood for each slow client: 8 × 10 MB.
	if grew > 40<<20 {
		t.Fatalf("heap grew %d MB", grew>>20)
	}
}

// waitLong waits up to a minute until check says nothing is missing (it
// returns what it waits for, "" when done), for the 1,000-client test, whose
// opens take a while under -race.
func waitLong(t testing.TB, check func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		what := check()
		if what == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
