package downloads

import (
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// recorder collects watcher events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) drain(ch <-chan Event) {
	for e := range ch {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}
}

func (r *recorder) snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func (r *recorder) has(path string) bool {
	for _, e := range r.snapshot() {
		if e.Path == path {
			return true
		}
	}
	return false
}

func (r *recorder) count(path string) int {
	n := 0
	for _, e := range r.snapshot() {
		if e.Path == path {
			n++
		}
	}
	return n
}

func fmtInt(n int64) string { return strconvFormat(n) }

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

// checkGoroutines fails the test if, once every later cleanup has run (a
// component's Stop/Close), more goroutines are left than when it began.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
