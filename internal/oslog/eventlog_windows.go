//go:build windows

package oslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/eventlog"
)

// EventLog is a slog handler that writes each record to the Windows
// Application event log under a registered source: errors as Error, warnings
// as Warning, the rest as Information, with the record's event ID, and the
// message followed by its attributes (key=value, one a line) as the text.
type EventLog struct {
	l      *eventlog.Log
	level  slog.Leveler
	attrs  []slog.Attr
	prefix string
	mu     *sync.Mutex
}

// NewEventLog opens the source (registered by the MSI or InstallSource).
func NewEventLog(source string, level slog.Leveler) (*EventLog, error) {
	l, err := eventlog.Open(source)
	if err != nil {
		return nil, fmt.Errorf("event log source %s: %w", source, err)
	}
	if level == nil {
		level = slog.LevelInfo
	}
	return &EventLog{l: l, level: level, mu: &sync.Mutex{}}, nil
}

// Close closes the handle.
func (e *EventLog) Close() error { return e.l.Close() }

func (e *EventLog) Enabled(_ context.Context, l slog.Level) bool { return l >= e.level.Level() }

func (e *EventLog) WithAttrs(as []slog.Attr) slog.Handler {
	n := *e
	for _, a := range as {
		a.Key = e.prefix + a.Key
		n.attrs = append(append([]slog.Attr(nil), n.attrs...), a)
	}
	return &n
}

func (e *EventLog) WithGroup(name string) slog.Handler {
	n := *e
	n.prefix = e.prefix + name + "."
	return &n
}

func (e *EventLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr, prefix string) {
		if a.Key == KeyEventID || a.Equal(slog.Attr{}) {
			return
		}
		fmt.Fprintf(&b, "\r\n%s%s=%s", prefix, a.Key, a.Value.Resolve().String())
	}
	for _, a := range e.attrs {
		add(a, "")
	}
	r.Attrs(func(a slog.Attr) bool { add(a, e.prefix); return true })
	msg := b.String()
	if len(msg) > 31000 { // ReportEvent's limit on one string is 31,839 characters
		msg = msg[:31000]
	}
	id := eventID(r, e.attrs)
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case r.Level >= slog.LevelError:
		return e.l.Error(id, msg)
	case r.Level >= slog.LevelWarn:
		return e.l.Warning(id, msg)
	}
	return e.l.Info(id, msg)
}

// InstallSource registers an event source that uses EventCreate.exe's
// messages (IDs 1 to 1000), as the MSI does; an existing registration is
// kept.
func InstallSource(source string) error {
	err := eventlog.InstallAsEventCreate(source, eventlog.Error|eventlog.Warning|eventlog.Info)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// RemoveSource removes the registration; a source that is not registered is
// not an error.
func RemoveSource(source string) error {
	err := eventlog.Remove(source)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return nil
	}
	return err
}
