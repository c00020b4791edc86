package downloads

import (
	"sync"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

type sinkEvent struct {
	kind protocol.EventKind
	sev  protocol.Severity
	data map[string]string
}

// fakeSink records events in memory.
type fakeSink struct {
	mu     sync.Mutex
	events []sinkEvent
}

func (s *fakeSink) Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, sinkEvent{kind, sev, data})
	return nil
}

func (s *fakeSink) all() []sinkEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkEvent(nil), s.events...)
}

func (s *fakeSink) ofKind(kind protocol.EventKind) []sinkEvent {
	var out []sinkEvent
	for _, e := range s.all() {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}
