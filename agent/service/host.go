package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/carrel-kiosk/carrel/internal/backoff"
)

// Host is the body of the installed service (`carrel-agent service`).
type Host struct {
	// Paths is the layout; an empty Config means DefaultPaths().
	Paths Paths
	// Enroller finishes provisioning from the preseed; nil skips enrollment.
	Enroller Enroller
	// Run is the agent itself (the same code as `carrel-agent run`). It returns
	// when ctx is cancelled; any other return is a failure and the service
	// exits non-zero so that the service manager restarts it.
	Run func(ctx context.Context) error
	// Log receives the service's log; under a Windows service it should not be
	// stderr.
	Log *slog.Logger

	// Backoff bounds for enrollment retries; zero means 2 s and 5 min.
	MinBackoff, MaxBackoff time.Duration

	preseed preseedStore // nil means newPreseedStore(Paths)
}

// ErrNoRun: Host.Run was not set.
var ErrNoRun = errors.New("service host: no agent run function")

// Serve provisions (directories, enrollment from the preseed) and runs the
// agent until ctx is cancelled. Cancellation is not an error: Serve returns nil.
func (h *Host) Serve(ctx context.Context) error {
	if h.Run == nil {
		return ErrNoRun
	}
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	paths := h.Paths
	if paths.Config == "" {
		paths = DefaultPaths()
	}
	store := h.preseed
	if store == nil {
		store = newPreseedStore(paths)
	}
	if err := ensureDirs(paths); err != nil {
		return fmt.Errorf("prepare directories: %w", err)
	}
	if h.Enroller != nil {
		if err := h.enroll(ctx, log, store); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// Again, over what enrollment wrote (key, certificates).
		if err := ensureDirs(paths); err != nil {
			return fmt.Errorf("prepare directories: %w", err)
		}
	}
	log.Info("Agent starting")
	err := h.Run(ctx)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		log.Info("Agent stopped")
		return nil
	}
	if err == nil {
		err = errors.New("agent returned without being stopped")
	}
	return fmt.Errorf("agent: %w", err)
}

// enroll returns once the agent is enrolled, retrying from the preseed with
// capped exponential backoff and full jitter. The preseed is re-read on every
// attempt, so IT can drop or fix it while the service waits.
func (h *Host) enroll(ctx context.Context, log *slog.Logger, store preseedStore) error {
	minB, maxB := h.MinBackoff, h.MaxBackoff
	if minB <= 0 {
		minB = 2 * time.Second
	}
	if maxB < minB {
		maxB = max(minB, 5*time.Minute)
	}
	bo := backoff.Backoff{Min: minB, Max: maxB}
	for attempt := 1; ; attempt++ {
		ok, err := h.Enroller.Enrolled()
		if err != nil {
			return fmt.Errorf("check enrollment: %w", err)
		}
		if ok {
			if err := eraseToken(store); err != nil {
				log.Warn("Token stays in the preseed", "where", store.String(), "err", err)
			}
			return nil
		}
		p, err := store.Load()
		level := slog.LevelWarn
		if attempt > 1 {
			level = slog.LevelDebug
		}
		switch {
		case err != nil:
			log.Log(ctx, level, "Preseed unreadable, waiting", "where", store.String(), "err", err)
		case !p.CanEnroll():
			log.Log(ctx, level, "Not enrolled and no complete preseed, waiting", "where", store.String())
		default:
			log.Info("Enrolling from preseed", "hubURL", p.HubURL, "attempt", attempt)
			err := h.Enroller.Enroll(ctx, p)
			if err == nil {
				log.Info("Enrolled", "hubURL", p.HubURL)
				continue // re-check Enrolled and erase the token
			}
			log.Log(ctx, level, "Enrollment failed, will retry", "err", err, "attempt", attempt)
		}
		t := time.NewTimer(bo.Next())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// SessionEvent is a Windows session change (the WTS_* codes).
type SessionEvent uint32

// Session change events, with the values of WTS_CONSOLE_CONNECT and following.
const (
	SessionConsoleConnect    SessionEvent = 0x1
	SessionConsoleDisconnect SessionEvent = 0x2
	SessionRemoteConnect     SessionEvent = 0x3
	SessionRemoteDisconnect  SessionEvent = 0x4
	SessionLogon             SessionEvent = 0x5
	SessionLogoff            SessionEvent = 0x6
	SessionLock              SessionEvent = 0x7
	SessionUnlock            SessionEvent = 0x8
	SessionRemoteControl     SessionEvent = 0x9
	SessionCreate            SessionEvent = 0xa
	SessionTerminate         SessionEvent = 0xb
)

// SessionChange is one notification the service control manager sent.
type SessionChange struct {
	Event     SessionEvent
	SessionID uint32
	Time      time.Time
}

// sessionChanges carries notifications from the service handler to whoever
// reads SessionChanges. Sends never block: when the reader is behind, the
// change is dropped and counted, and the reader is expected to re-enumerate
// sessions (the WTS poll fallback) when DroppedSessionChanges grows.
var (
	sessionChanges = make(chan SessionChange, 64)
	sessionDropped atomic.Uint64
)

// SessionChanges returns the channel of session change notifications received
// by the Windows service handler. There is one channel per process, read by one
// consumer (the agent's session watcher). Nothing is ever sent on it outside a
// Windows service.
func SessionChanges() <-chan SessionChange { return sessionChanges }

// DroppedSessionChanges counts notifications lost because the reader was behind.
func DroppedSessionChanges() uint64 { return sessionDropped.Load() }

func publishSessionChange(c SessionChange) {
	select {
	case sessionChanges <- c:
	default:
		sessionDropped.Add(1)
	}
}
