package agent

// The components beside the seat, each built from its section of the
// configuration. New calls them in order; they report through sink.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/agent/browserpolicy"
	"github.com/carrel-kiosk/carrel/agent/classify"
	"github.com/carrel-kiosk/carrel/agent/config"
	"github.com/carrel-kiosk/carrel/agent/downloads"
	"github.com/carrel-kiosk/carrel/agent/execguard"
	"github.com/carrel-kiosk/carrel/agent/status"
	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// newDownloads is the download guard: it judges every new file in the patron
// folders and quarantines what it blocks (release-quarantine undoes one).
func newDownloads(cfg config.Config, sink protocol.EventSink, log *slog.Logger) (*downloads.Guard, error) {
	g, err := downloads.New(cfg.Downloads, classify.New(cfg.Classify), sink, log)
	if err != nil {
		return nil, fmt.Errorf("download guard: %w", err)
	}
	return g, nil
}

// newExecGuard is the exec guard: nothing runs from a patron-writable folder.
func newExecGuard(cfg config.Config, sink protocol.EventSink, log *slog.Logger) (*execguard.Guard, error) {
	g, err := execguard.New(cfg.ExecGuard, sink, log)
	if err != nil {
		return nil, fmt.Errorf("exec guard: %w", err)
	}
	return g, nil
}

// newBrowserPolicy applies the browser policies at once and returns the watch
// that keeps them in force. A failure to apply is not fatal: the watch
// retries, and the failure is an event for staff.
func newBrowserPolicy(cfg config.Config, sink protocol.EventSink, st *status.Collector, log *slog.Logger) (*browserpolicy.Manager, func(context.Context) error) {
	m := browserpolicy.New(cfg.BrowserPolicy, "", log, sink)
	if _, err := m.Apply(); err != nil {
		log.Error("Browser policies not applied", "err", err)
	}
	st.SetPolicyVersion(m.PolicyVersion())
	return m, func(ctx context.Context) error {
		err := m.Watch(ctx)
		if errors.Is(err, browserpolicy.ErrNotImplemented) {
			log.Warn("Browser policies are not kept up on this OS")
			return nil
		}
		return err
	}
}

// applyPolicyHandler is apply-policy: re-apply the policies now.
func applyPolicyHandler(m *browserpolicy.Manager) protocol.CommandHandler {
	return func(context.Context, map[string]string) (string, error) {
		changed, err := m.Apply()
		if err != nil {
			return "", err
		}
		if len(changed) == 0 {
			return "policies already in force", nil
		}
		return "re-applied: " + strings.Join(changed, ", "), nil
	}
}

// patronNotices tells the patron at once what a guard refused on their
// behalf (issue 16 §6): the guards report through sink, which passes every
// event on to staff unchanged and queues the patron's words for those the
// patron is told about (protocol.PatronNotice); run shows them through the
// seat's session helper.
type patronNotices struct {
	ch  chan string // queued notices; full: the newest are dropped
	log *slog.Logger
}

// noticeQueue is how many notices may wait: a burst of blocked files shows
// its first few, one after another, each replacing the last.
const noticeQueue = 4

func newPatronNotices(log *slog.Logger) *patronNotices {
	return &patronNotices{ch: make(chan string, noticeQueue), log: log}
}

// sink wraps s for a guard. Emit never waits for the screen.
func (p *patronNotices) sink(s protocol.EventSink) protocol.EventSink { return noticeSink{s, p} }

type noticeSink struct {
	protocol.EventSink
	p *patronNotices
}

func (n noticeSink) Emit(kind protocol.EventKind, sev protocol.Severity, data map[string]string) error {
	err := n.EventSink.Emit(kind, sev, data)
	if text, ok := protocol.PatronNotice(kind, data); ok {
		select {
		case n.p.ch <- text:
		default:
		}
	}
	return err
}

// run shows the queued notices through notify until ctx ends.
func (p *patronNotices) run(notify func(context.Context, string) error) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case text := <-p.ch:
				c, cancel := context.WithTimeout(ctx, 15*time.Second)
				if err := notify(c, text); err != nil && ctx.Err() == nil {
					p.log.Warn("Patron notice not shown", "err", err)
				}
				cancel()
			}
		}
	}
}
