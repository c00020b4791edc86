//go:build darwin

package downloads

import "testing"

// TestKqueueWatcher runs the watcher contract (rescan_test.go) on the real
// kqueue notifier. Written 2026-11 without a Mac to run it on: see doc.go.
func TestKqueueWatcher(t *testing.T) {
	runRescanContract(t, func(tb testing.TB, cfg rescanConfig) *rescanWatcher {
		w, err := newKqueueWatcher(cfg, discardLog())
		if err != nil {
			tb.Fatal(err)
		}
		return w
	})
}
