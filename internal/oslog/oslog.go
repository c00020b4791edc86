// Package oslog sends Carrel's logs where IT looks for them: the systemd
// journal on Linux (its native protocol, so each record keeps its priority and
// fields), and the Windows Event Log (an event source the MSI registers), as
// well as the agent's own file. Records are log/slog records.
//
// Every record has an event ID: the "eid" attribute where the code set one
// (the agent's events have one each: protocol.EventKind.LogID), else 1 for
// information, 2 for a warning, 3 for an error. On Windows it is the Event
// Log's Event ID; in the journal it is the CARREL_EVENT_ID field. IDs stay
// within 1 to 1000, the range the stock message file (EventCreate.exe) of a
// registered source covers.
package oslog

import (
	"context"
	"log/slog"
)

// KeyEventID is the attribute that carries a record's event ID.
const KeyEventID = "eid"

// Event IDs of records without one of their own.
const (
	IDInfo  = 1
	IDWarn  = 2
	IDError = 3
)

// eventID is the record's ID: its eid attribute, else by level.
func eventID(r slog.Record, attrs []slog.Attr) uint32 {
	id := uint32(0)
	find := func(a slog.Attr) bool {
		if a.Key == KeyEventID {
			if v, ok := a.Value.Resolve().Any().(int64); ok && v > 0 && v <= 1000 {
				id = uint32(v)
			} else if v, ok := a.Value.Resolve().Any().(uint64); ok && v > 0 && v <= 1000 {
				id = uint32(v)
			}
			return false
		}
		return true
	}
	for _, a := range attrs {
		find(a)
	}
	r.Attrs(find)
	if id != 0 {
		return id
	}
	switch {
	case r.Level >= slog.LevelError:
		return IDError
	case r.Level >= slog.LevelWarn:
		return IDWarn
	}
	return IDInfo
}

// Tee sends every record to each handler; a handler that fails does not stop
// the others, and the first error is returned.
func Tee(hs ...slog.Handler) slog.Handler { return tee(hs) }

type tee []slog.Handler

func (t tee) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range t {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (t tee) Handle(ctx context.Context, r slog.Record) error {
	var first error
	for _, h := range t {
		if !h.Enabled(ctx, r.Level) {
			continue
		}
		if err := h.Handle(ctx, r.Clone()); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (t tee) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(tee, len(t))
	for i, h := range t {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (t tee) WithGroup(name string) slog.Handler {
	out := make(tee, len(t))
	for i, h := range t {
		out[i] = h.WithGroup(name)
	}
	return out
}
