package agent

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"
)

// TestPatronNotices: a quarantined download and a refused exec reach staff
// exactly as before and the patron in plain words; other events tell the
// patron nothing; a stuck screen never holds a guard up.
func TestPatronNotices(t *testing.T) {
	rec := &eventrec.Recorder{}
	p := newPatronNotices(slog.New(slog.DiscardHandler))
	sink := p.sink(rec)

	var mu sync.Mutex
	var shown []string
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.run(func(ctx context.Context, text string) error {
			<-release
			mu.Lock()
			shown = append(shown, text)
			mu.Unlock()
			return nil
		})(ctx)
	}()

	blocked := protocol.DownloadBlocked{ID: "q1", Name: "invoice.exe", SHA256: "ab", Size: 3, Reason: "dangerous extension .exe (Windows program)"}.Data()
	sink.Emit(protocol.EventDownloadBlocked, protocol.SeverityAlert, blocked)
	sink.Emit(protocol.EventDownloadNoExec, protocol.SeverityInfo, map[string]string{protocol.DataName: "notes.txt"})
	sink.Emit(protocol.EventExecBlocked, protocol.SeverityAlert, map[string]string{protocol.DataPath: "/home/p/Downloads/setup.exe", "pid": "42"})
	// The screen is stuck: a burst must not block the guard.
	start := time.Now()
	for i := 0; i < 50; i++ {
		sink.Emit(protocol.EventDownloadBlocked, protocol.SeverityAlert, blocked)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Emit waited %s for the screen", d)
	}
	close(release)

	want := []string{
		"invoice.exe was not kept: programs cannot run on library PCs. Ask staff if you need this file.",
		"setup.exe did not start: programs cannot run from your folders on library PCs. Ask staff if you need this program.",
	}
	testbin.WaitFor(t, 5*time.Second, "the notices shown", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(shown) >= noticeQueue
	})
	mu.Lock()
	if shown[0] != want[0] || shown[1] != want[1] {
		t.Errorf("shown %q, want first %q", shown, want)
	}
	mu.Unlock()
	if rec.Count(protocol.EventDownloadBlocked) != 51 || rec.Count(protocol.EventExecBlocked) != 1 || rec.Count(protocol.EventDownloadNoExec) != 1 {
		t.Errorf("staff events changed: %v", rec.Kinds())
	}
	if ev := rec.OfKind(protocol.EventDownloadBlocked)[0]; ev.Data[protocol.DataID] != "q1" || ev.Data[protocol.DataReason] != blocked[protocol.DataReason] {
		t.Errorf("staff event %+v", ev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
