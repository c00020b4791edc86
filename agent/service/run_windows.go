//go:build windows

package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// stopDeadline bounds how long the agent may take to stop before the handler
// reports stopped anyway (the SCM's own limit is around 20 s).
const stopDeadline = 15 * time.Second

// RunService is the `carrel-agent service` entry point on Windows. It calls
// svc.Run directly (kardianos's IsWindowsService check is false under Wine),
// accepts Stop, Shutdown and SessionChange, and passes session changes to
// SessionChanges. Once running it re-asserts the service's configuration (a
// quoted executable path, recovery actions) so that a service registered by the
// MSI gets them too.
func RunService(ctx context.Context, h *Host) error {
	hd := &handler{ctx: ctx, host: h}
	if err := svc.Run(Name, hd); err != nil {
		return fmt.Errorf("service dispatcher: %w", err)
	}
	return hd.err
}

// RecoveryActions are the failure actions of the service: restart after 5 s,
// 5 s and 30 s; the failure count resets after a day.
var RecoveryActions = []mgr.RecoveryAction{
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
}

// RecoveryResetPeriod is the failure counter's reset period in seconds.
const RecoveryResetPeriod = 86400

func setRecoveryActions() error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.SetRecoveryActions(RecoveryActions, RecoveryResetPeriod); err != nil {
		return err
	}
	// Also restart when the agent exits with an error, not only on a crash.
	return s.SetRecoveryActionsOnNonCrashFailures(true)
}

// fixServiceConfig quotes the service's path and sets its recovery actions.
func fixServiceConfig(log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if fixed, err := quoteImagePath(); err != nil {
		log.Warn("Service path not checked", "err", err)
	} else if fixed {
		log.Warn("Service path was unquoted; quoted it")
	}
	if err := setRecoveryActions(); err != nil {
		// Wine 8 does not implement SERVICE_CONFIG_FAILURE_ACTIONS ("Invalid level").
		log.Warn("Recovery actions not set", "err", err)
	}
}

// quoteImagePath makes sure the service's command line starts with the quoted
// executable path. An unquoted path with spaces ("C:\Program Files\...") lets
// anyone who can write C:\Program.exe run code as SYSTEM. Windows Installer
// quotes it; Wine's msiexec does not; the agent fixes it either way.
func quoteImagePath() (bool, error) {
	m, err := mgr.Connect()
	if err != nil {
		return false, err
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if err != nil {
		return false, err
	}
	defer s.Close()
	// windows.QueryServiceConfig, not mgr's Config: that also asks for
	// optional info levels Wine 8 does not implement ("Invalid level").
	var need uint32
	windows.QueryServiceConfig(s.Handle, nil, 0, &need)
	if need == 0 {
		need = 1024
	}
	buf := make([]byte, need)
	cfg := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
	if err := windows.QueryServiceConfig(s.Handle, cfg, need, &need); err != nil {
		return false, err
	}
	fixed, ok := quotedCommandLine(windows.UTF16PtrToString(cfg.BinaryPathName))
	if !ok {
		return false, nil
	}
	p, err := windows.UTF16PtrFromString(fixed)
	if err != nil {
		return false, err
	}
	const noChange = windows.SERVICE_NO_CHANGE
	if err := windows.ChangeServiceConfig(s.Handle, noChange, noChange, noChange, p, nil, nil, nil, nil, nil, nil); err != nil {
		return false, err
	}
	return true, nil
}

type handler struct {
	ctx  context.Context
	host *Host
	err  error // set before Execute returns
}

func (hd *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptSessionChange
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(hd.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hd.host.Serve(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	// Only now: the SCM is waiting on this process until it reports running,
	// and Wine's SCM does not answer other calls from it before that.
	go fixServiceConfig(hd.host.Log)

	for {
		select {
		case err := <-done:
			// The agent stopped on its own: a failure (Serve returns nil only
			// after cancellation). Exit with an error so recovery restarts it.
			if err == nil {
				err = errors.New("agent stopped unexpectedly")
			}
			hd.err = err
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
				case err := <-done:
					t.Stop()
					hd.err = err
				case <-t.C:
					hd.err = errors.New("agent did not stop within the deadline")
				}
				if hd.err != nil {
					return true, 1
				}
				return false, 0
			case svc.SessionChange:
				sc := SessionChange{Event: SessionEvent(c.EventType), Time: time.Now()}
				if c.EventData != 0 {
					sc.SessionID = sessionIDAt(c.EventData)
				}
				publishSessionChange(sc)
			}
		}
	}
}

// sessionIDAt reads the SessionId of the WTSSESSION_NOTIFICATION the SCM passed
// as EventData. The SCM owns that memory for the duration of the callback; the
// uintptr is reinterpreted through a pointer to it (not converted) so that vet's
// unsafeptr check, which cannot know this, stays quiet.
func sessionIDAt(p uintptr) uint32 {
	n := *(**windows.WTSSESSION_NOTIFICATION)(unsafe.Pointer(&p))
	return n.SessionID
}
