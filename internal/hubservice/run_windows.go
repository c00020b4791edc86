//go:build windows

package hubservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows/svc"
)

// stopDeadline bounds how long the hub may take to stop before the handler
// reports stopped anyway (the SCM's own limit is around 20 s).
const stopDeadline = 15 * time.Second

// RunService is the `carrel-hub service` entry point on Windows: it calls
// svc.Run directly (kardianos's IsWindowsService is false under Wine) and
// runs run until the SCM sends Stop or Shutdown.
func RunService(ctx context.Context, run func(context.Context) error) error {
	h := &handler{ctx: ctx, run: run}
	if err := svc.Run(Name, h); err != nil {
		return fmt.Errorf("service dispatcher: %w", err)
	}
	return h.err
}

type handler struct {
	ctx context.Context
	run func(context.Context) error
	err error // set before Execute returns
}

func (h *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			// The hub stopped on its own: a failure. Exit with an error so the
			// recovery actions restart it.
			if err == nil {
				err = errors.New("hub stopped unexpectedly")
			}
			h.err = err
			status <- svc.Status{State: svc.StopPending}
			return true, 1
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32(stopDeadline / time.Millisecond)}
				cancel()
				t := time.NewTimer(stopDeadline)
				select {
				case h.err = <-done:
					t.Stop()
				case <-t.C:
					h.err = errors.New("hub did not stop within the deadline")
				}
				if h.err != nil {
					return true, 1
				}
				return false, 0
			}
		}
	}
}

// maxLogSize is where the log file is rotated (once, to hub.log.1) at start.
const maxLogSize = 10 << 20

// OpenLog returns the service's logger: <data>\hub.log, because a Windows
// service has no stderr. The signed audit heads the hub logs are in it too.
func OpenLog(dataDir string, _ io.Writer, level slog.Level) (*slog.Logger, io.Closer, error) {
	if err := ensureDataDir(dataDir); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dataDir, "hub.log")
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		os.Remove(path + ".1")
		os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})), f, nil
}
