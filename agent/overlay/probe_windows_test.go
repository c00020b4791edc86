//go:build windows

package overlay

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

// The self-test's lock probe on Windows, through the real launcher (under
// Wine on Xvfb: the helper's lock window and keyboard hook): the probe kills
// the helper and a new one's lock window is up, hooked, before it returns.
func TestProbeLockWindows(t *testing.T) {
	needDisplay(t)
	var id uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &id); err != nil {
		t.Fatal(err)
	}
	if id == 0 {
		t.Skip("this test runs in session 0, which has no desktop")
	}
	tg := Target{Session: strconv.FormatUint(uint64(id), 10)}
	start := HelperCommand("", HelperArg)
	if winetest.Under() {
		launch := start
		start = func(tg Target) (*exec.Cmd, error) {
			cmd, err := launch(tg)
			if err == nil {
				cmd.Env = append(cmd.Env, "DISPLAY="+os.Getenv("DISPLAY"))
			}
			return cmd, err
		}
	}
	s := NewSupervisor(Options{Log: testLogger(t), Start: start})
	sink := &eventrec.Recorder{}
	runSupervisor(t, s, sink)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.Lock(ctx, tg, true)
	if errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD) {
		t.Skip("WTSQueryUserToken needs the SYSTEM account (run this on Windows as a service, or under Wine)")
	}
	if err != nil {
		t.Fatal(err)
	}
	pid := s.helperPID(tg.Session)
	took, err := s.ProbeLock(ctx, tg.Session, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	np := s.helperPID(tg.Session)
	if np == pid || np == 0 || window(lockClass, np) == 0 {
		t.Fatalf("after the probe: helper %d (was %d), its lock window %v", np, pid, window(lockClass, np))
	}
	if sink.Count(protocol.EventHelperRestarted) != 1 {
		t.Errorf("events: %s", sink)
	}
	t.Logf("the lock window was back %s after it was killed", took.Round(time.Millisecond))
}
