//go:build linux

package execguard

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// TestGuardBothLayers runs the composed guard: a program that was already
// running from a patron root is killed, a new one is never started.
func TestGuardBothLayers(t *testing.T) {
	checkGoroutines(t)
	mnt := privateTmpfs(t)
	patron := filepath.Join(mnt, "home", "patron")
	os.MkdirAll(patron, 0o777)
	copyExecutable(t, "/bin/sleep", filepath.Join(patron, "sleep"))
	copyExecutable(t, "/bin/true", filepath.Join(patron, "true"))
	running := startSleep(t, filepath.Join(patron, "sleep"))

	cfg := DefaultConfig()
	cfg.Roots = []string{filepath.Join(mnt, "home", "*")}
	cfg.PollInterval = 100 * time.Millisecond
	sink := &eventrec.Recorder{}
	g, err := New(cfg, sink, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	if g.enf == nil {
		t.Skip("fanotify not available")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop within 5s")
		}
	}()
	select {
	case <-running.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("running patron program not killed")
	}
	testbin.WaitFor(t, 5*time.Second, "roots applied", func() bool {
		err := exec.Command(filepath.Join(patron, "true")).Run()
		return errors.Is(err, syscall.EPERM)
	})
	testbin.WaitFor(t, 5*time.Second, "both events", func() bool {
		return len(sink.OfKind(protocol.EventExecKilled)) == 1 && len(sink.OfKind(protocol.EventExecBlocked)) == 1
	})
	if err := g.Uninstall(); err != nil {
		t.Errorf("Uninstall: %v", err)
	}
}
