//go:build windows

package session

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// WTS_INFO_CLASS values used here (wtsapi32.h).
const (
	wtsUserName   = 5
	wtsDomainName = 7
)

// wtsCurrentServer is WTS_CURRENT_SERVER_HANDLE.
const wtsCurrentServer = windows.Handle(0)

// NewWatcher returns the Windows watcher. It lists sessions with
// WTSEnumerateSessions every cfg.PollInterval and at once whenever the service
// passes a session-change notification to its SessionChange method (the
// returned value implements SessionChangeNotifier). Session 0 (services) and
// sessions without a user are skipped.
func NewWatcher(cfg Config, log *slog.Logger) Watcher {
	return &wtsWatcher{pollWatcher: newPollWatcher(log, time.Duration(cfg.PollInterval), listWTSSessions)}
}

type wtsWatcher struct {
	*pollWatcher
}

var (
	_ Watcher               = (*wtsWatcher)(nil)
	_ SessionChangeNotifier = (*wtsWatcher)(nil)
)

// SessionChange takes a notification from the service's svc.ChangeRequest
// (svc.SessionChange). Logon, logoff, connect and disconnect trigger a re-list;
// lock and unlock do not change who is logged on.
func (w *wtsWatcher) SessionChange(eventType uint32, sessionID uint32) {
	switch eventType {
	case windows.WTS_SESSION_LOGON, windows.WTS_SESSION_LOGOFF, windows.WTS_CONSOLE_CONNECT,
		windows.WTS_CONSOLE_DISCONNECT, windows.WTS_REMOTE_CONNECT, windows.WTS_REMOTE_DISCONNECT,
		windows.WTS_SESSION_CREATE, windows.WTS_SESSION_TERMINATE:
		w.nudge()
	}
}

// listWTSSessions lists the sessions that have a user (active or disconnected).
func listWTSSessions(ctx context.Context) ([]Session, error) {
	var infos *windows.WTS_SESSION_INFO
	var count uint32
	if err := windows.WTSEnumerateSessions(wtsCurrentServer, 0, 1, &infos, &count); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	var out []Session
	for _, info := range unsafe.Slice(infos, count) {
		if info.SessionID == 0 {
			continue
		}
		switch info.State {
		case windows.WTSActive, windows.WTSDisconnected:
		default:
			continue
		}
		name, err := wtsString(info.SessionID, wtsUserName)
		if err != nil || name == "" {
			continue // no user (the logon screen), or gone meanwhile
		}
		out = append(out, Session{ID: strconv.FormatUint(uint64(info.SessionID), 10), User: name})
	}
	return out, nil
}

// wtsString queries one string property of a session.
func wtsString(sessionID uint32, class uint32) (string, error) {
	var buf *uint16
	var n uint32
	if err := wtsQuerySessionInformation(wtsCurrentServer, sessionID, class, &buf, &n); err != nil {
		return "", fmt.Errorf("WTSQuerySessionInformation: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf), nil
}
