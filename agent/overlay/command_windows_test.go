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

	"github.com/carrel-kiosk/carrel/internal/testrig/testbin"

	"github.com/carrel-kiosk/carrel/internal/testrig/eventrec"

	"golang.org/x/sys/windows"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/testrig/winetest"
)

func TestWindowsTargetChecks(t *testing.T) {
	for _, bad := range []string{"", "0", "01", "-1", "4294967296", "4; rm", "console"} {
		if err := (Target{Session: bad}).check(); err == nil {
			t.Errorf("session %q accepted", bad)
		}
	}
	for _, good := range []string{"1", "4294967295"} {
		if err := (Target{Session: good}).check(); err != nil {
			t.Errorf("session %q: %v", good, err)
		}
	}
}

func TestEnvBlock(t *testing.T) {
	got := windows.UTF16ToString(envBlock([]string{"A=1", "", "B=x\x00y", "C=ü"})[4:]) // after "A=1\x00"
	if got != "C=ü" {
		t.Errorf("second entry %q", got)
	}
	b := envBlock([]string{"A=1", "C=2"})
	if want := "A=1\x00C=2\x00\x00"; string(utf16Runes(b)) != want {
		t.Errorf("block %q, want %q", string(utf16Runes(b)), want)
	}
	if b := envBlock(nil); len(b) != 2 || b[0] != 0 || b[1] != 0 {
		t.Errorf("empty block %v", b)
	}
}

func utf16Runes(b []uint16) []rune {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return r
}

// TestLauncher runs the real launcher: HelperCommand takes this session's
// token (WTSQueryUserToken), and the Supervisor starts the helper with
// CreateProcessAsUser on winsta0\default. Under Wine the token is this
// process's own and there is one session: that another user's helper lands
// on that user's desktop needs real Windows.
func TestLauncher(t *testing.T) {
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
		// The helper gets the patron's environment (CreateEnvironmentBlock,
		// from the registry); Wine finds its X display in the environment.
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
	ctx := context.Background()

	err := s.Lock(ctx, tg, true)
	if errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD) {
		t.Skip("WTSQueryUserToken needs the SYSTEM account (run this on Windows as a service, or under Wine)")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	_, viaDesktop := s.seats[tg.Session].proc.hp.(*desktopProcess)
	s.mu.Unlock()
	if !viaDesktop {
		t.Error("the helper was not started with CreateProcessAsUser")
	}
	pid := s.helperPID(tg.Session)
	if window(lockClass, pid) == 0 {
		t.Fatal("no lock window of the helper")
	}
	if r, _ := s.Shown(tg.Session); !r.Lock || !r.Grabbed {
		t.Errorf("shown %+v", r)
	}

	// The patron (under Wine: this process, the same user as the helper)
	// may see that it runs, but not kill, suspend or debug it, nor take its
	// pipes. Wine (8.0) has no OWNER RIGHTS: there the owner keeps its
	// implicit rights (change the DACL) and gets nothing from the OW entry.
	for _, right := range []struct {
		name      string
		mask      uint32
		notOnWine bool
	}{
		{"terminate", windows.PROCESS_TERMINATE, false},
		{"suspend", windows.PROCESS_SUSPEND_RESUME, false},
		{"duplicate handles", windows.PROCESS_DUP_HANDLE, false},
		{"write memory", windows.PROCESS_VM_WRITE | windows.PROCESS_VM_OPERATION, false},
		{"read memory", windows.PROCESS_VM_READ, false},
		{"change its DACL", windows.WRITE_DAC, true},
		{"take ownership", windows.WRITE_OWNER, true},
	} {
		if h, err := windows.OpenProcess(right.mask, false, uint32(pid)); err == nil {
			windows.CloseHandle(h)
			if right.notOnWine && winetest.Under() {
				t.Logf("under Wine the owner can open the helper to %s (no OWNER RIGHTS)", right.name)
				continue
			}
			t.Errorf("the patron can open the helper to %s", right.name)
		}
	}
	if h, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid)); err == nil {
		windows.CloseHandle(h)
	} else if !winetest.Under() {
		t.Errorf("the patron cannot see the helper run: %v", err)
	}

	// Dead all the same (a crash, or an administrator's kill): a new helper
	// shows the lock again within 2 s, and the restart is reported.
	done := s.helperDone(tg.Session)
	killed := time.Now()
	s.mu.Lock()
	err = s.seats[tg.Session].proc.hp.Kill()
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	<-done
	var again int
	testbin.WaitFor(t, 10*time.Second, "the lock back", func() bool {
		again = s.helperPID(tg.Session)
		return again != 0 && again != pid && window(lockClass, again) != 0
	})
	if d := time.Since(killed); d > 2*time.Second {
		t.Errorf("lock back %s after the kill, want within 2 s", d.Round(time.Millisecond))
	}
	if n := sink.Count(protocol.EventHelperRestarted); n != 1 {
		t.Errorf("%d restart events, want 1", n)
	}

	// Unlocked: the helper is asked to go (its stdin closes) and goes.
	done = s.helperDone(tg.Session)
	if err := s.Lock(ctx, tg, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("helper still running 5 s after the unlock")
	}
	if len(windowsOf(lockClass, again)) != 0 {
		t.Error("lock window left after the unlock")
	}
	if n := sink.Count(protocol.EventHelperRestarted); n != 1 {
		t.Errorf("%d restart events after a clean exit, want 1", n)
	}
}
