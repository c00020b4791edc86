package agent

// The components beside the seat, each built from its section of the
// configuration. New calls them in order; they report through sink.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

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
func newExecGuard(cfg config.Config, sink protocol.EventSink, log *slog.Logger) (func(context.Context) error, error) {
	g, err := execguard.New(cfg.ExecGuard, sink, log)
	if err != nil {
		return nil, fmt.Errorf("exec guard: %w", err)
	}
	return g.Run, nil
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
