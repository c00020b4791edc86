package wsserve

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// QuietLog logs the first of a repeated warning (same message and key, such as a
// terminal or a remote address) at Warn and repeats within the window at Debug, so
// an agent that keeps retrying a refused connection does not flood the journal.
type QuietLog struct {
	log    *slog.Logger
	window time.Duration

	mu   sync.Mutex
	last map[string]time.Time // msg+key → last Warn; guarded by mu
}

func NewQuietLog(log *slog.Logger, window time.Duration) *QuietLog {
	return &QuietLog{log: log, window: window, last: map[string]time.Time{}}
}

// Warn logs msg with args at Warn unless the same msg and key were logged at Warn
// within the window; then at Debug.
func (q *QuietLog) Warn(key, msg string, args ...any) {
	now := time.Now()
	k := msg + "\x00" + key
	q.mu.Lock()
	level := slog.LevelWarn
	if t, ok := q.last[k]; ok && now.Sub(t) < q.window {
		level = slog.LevelDebug
	} else {
		if len(q.last) > 10000 {
			for kk, t := range q.last {
				if now.Sub(t) >= q.window {
					delete(q.last, kk)
				}
			}
		}
		q.last[k] = now
	}
	q.mu.Unlock()
	q.log.Log(context.Background(), level, msg, args...)
}
