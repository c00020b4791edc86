//go:build windows

package execguard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// tempDir is t.TempDir without the failing cleanup under Wine (os.RemoveAll
// returns "Invalid function" there).
func tempDir(t testing.TB) string { return winetest.TempDir(t) }

// Under Wine, gopsutil sees Wine's processes with Windows paths, and Kill is
// TerminateProcess: the same code path as on Windows.
func TestProcessWatcherKillsPatronProcessWindows(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	patron := tempDir(t)
	prog := filepath.Join(patron, "game.exe")
	copyExecutable(t, self, prog)
	cmd := exec.Command(prog)
	cmd.Env = append(os.Environ(), "CARREL_TEST_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })

	sink := &eventrec.Recorder{}
	pw := NewProcessWatcher(100*time.Millisecond, sink, discardLog())
	pw.SetRoots([]string{strings.ToUpper(patron)}) // paths compare without case
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pw.Run(ctx)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("patron process not killed within 20s")
	}
	testbin.WaitFor(t, 5*time.Second, "exec.killed", func() bool { return len(sink.OfKind(protocol.EventExecKilled)) >= 1 })
	ev := sink.OfKind(protocol.EventExecKilled)[0]
	if ev.Data["pid"] != strconv.Itoa(cmd.Process.Pid) || !strings.EqualFold(ev.Data["path"], prog) {
		t.Errorf("event %+v (prog %s)", ev, prog)
	}
}
