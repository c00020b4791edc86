//go:build windows

package selftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

func sharedTempDirs() []string {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	return []string{filepath.Join(root, "Temp")}
}

const programExt = ".exe"

// placeProgram copies this executable to path. The download guard judges a
// file once it has been quiet for its settle time; the canary runs before.
func placeProgram(path string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	_, cerr := io.Copy(dst, src)
	return errors.Join(cerr, dst.Close())
}

// runProgram runs the canary with "version": it prints a line and exits.
func runProgram(ctx context.Context, path string) error {
	return exec.CommandContext(ctx, path, "version").Run()
}

// refusedByGuard: an SRP Disallowed path rule makes CreateProcess fail with
// ERROR_ACCESS_DISABLED_BY_POLICY.
func refusedByGuard(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DISABLED_BY_POLICY)
}

const notBuiltWindows = "the canary account is not built for Windows yet (2026-12): the wipe and the logon gate are tested in CI under Wine, as far as Wine goes"

func checkWipe(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	return protocol.SelfTestNotTestable, notBuiltWindows
}

func checkLogonGate(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	return protocol.SelfTestNotTestable, notBuiltWindows
}

func removeCanaryAccount(context.Context, *Env, string) error { return nil }

func checkServiceRestart(context.Context, *Env) (protocol.SelfTestOutcome, string) {
	m, err := mgr.Connect()
	if err != nil {
		return protocol.SelfTestNotTestable, "cannot reach the service control manager: " + err.Error()
	}
	defer m.Disconnect()
	s, err := m.OpenService("carrel-agent")
	if err != nil {
		return protocol.SelfTestFail, "the carrel-agent service is not installed: " + err.Error()
	}
	defer s.Close()
	acts, err := s.RecoveryActions()
	if err != nil {
		return protocol.SelfTestFail, "cannot read the service's recovery actions: " + err.Error()
	}
	if len(acts) == 0 || acts[0].Type != mgr.ServiceRestart {
		return protocol.SelfTestFail, "the service is not restarted on its first failure (recovery actions: " + fmt.Sprint(acts) + ")"
	}
	return protocol.SelfTestPass, fmt.Sprintf("the service control manager restarts carrel-agent %s after a failure", acts[0].Delay)
}
