//go:build windows

package session

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// Under Wine (2026-11, wine 8.0) WTSEnumerateSessions lists no sessions, so
// these tests check what Wine can: the calls link and succeed, the user of
// this process's session can be read, and a session-change notification makes
// the watcher poll at once. Listing real sessions needs real Windows.

func TestWTSCallsLink(t *testing.T) {
	for _, p := range []*windows.LazyProc{procWTSQuerySessionInformationW, procWTSLogoffSession,
		procWTSDisconnectSession, procWTSSendMessageW} {
		if err := p.Find(); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	if _, err := listWTSSessions(context.Background()); err != nil {
		t.Fatalf("list sessions: %v", err)
	}
}

func TestWTSUserOfThisSession(t *testing.T) {
	var id uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &id); err != nil {
		t.Fatal(err)
	}
	name, err := wtsString(id, wtsUserName)
	if err != nil {
		t.Fatal(err)
	}
	if id != 0 && name == "" {
		t.Fatalf("session %d has no user name", id)
	}
	t.Logf("session %d user %q", id, name)
}

func TestSessionChangeNudgesPoll(t *testing.T) {
	w := NewWatcher(Config{PollInterval: Duration(time.Hour)}, testLogger(t)).(*wtsWatcher)
	polls := make(chan struct{}, 1)
	w.polled = func() { polls <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listed := make(chan struct{}, 1)
	go w.Run(ctx, func(ev Event) {
		if ev.Kind == 0 {
			listed <- struct{}{}
		}
	})
	recv(t, listed, "initial list")
	w.SessionChange(windows.WTS_SESSION_LOCK, 1) // not a change of who is on
	select {
	case <-polls:
		t.Fatal("polled after a lock notification")
	default:
	}
	w.SessionChange(windows.WTS_SESSION_LOGON, 1)
	select {
	case <-polls:
	case <-time.After(10 * time.Second):
		t.Fatal("no poll after a logon notification")
	}
	var n SessionChangeNotifier = w
	_ = n
}

func TestWTSControllerRefusesBadIDs(t *testing.T) {
	c := NewController(testLogger(t))
	for _, id := range []string{"", "0", "-1", "x", "99999999999"} {
		if err := c.Terminate(context.Background(), Session{ID: id}); err == nil {
			t.Errorf("terminate of session %q accepted", id)
		}
	}
	if err := c.HoldLogons(context.Background(), []string{"patron"}, true); err != ErrNotImplemented {
		t.Fatalf("HoldLogons = %v", err)
	}
}
