//go:build windows

package overlay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf16"
	"unsafe"

	"github.com/carrel-kiosk/carrel/internal/protocol"
	"golang.org/x/sys/windows"
)

// HelperCommand returns the Starter that runs exe (this executable when exe is
// "") with args in the target's WTS session, as that session's user: it takes
// the session's token (WTSQueryUserToken, which needs the service's SYSTEM
// account), duplicates it as a primary token, and gives the helper that user's
// own environment (CreateEnvironmentBlock) and the system directory as its
// working directory. The command carries the token in SysProcAttr.Token; the
// Supervisor starts it with startHelper, on the session's interactive desktop
// (winsta0\default), and closes the token. Do not start it with cmd.Start:
// os/exec cannot name a desktop (2026-11, Go 1.26), and the helper would run
// on an invisible one.
//
// Under Wine (2026-11, wine 8.0) WTSQueryUserToken returns this process's own
// token and there is one session, so the tests run this path as the same
// user: what Windows does with another user's token in another session is
// compiled, not run.
func HelperCommand(exe string, args ...string) Starter {
	return func(t Target) (*exec.Cmd, error) {
		id, err := wtsSession(t.Session)
		if err != nil {
			return nil, err
		}
		path := exe
		if path == "" {
			if path, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("find own executable: %w", err)
			}
		}
		var user windows.Token
		if err := windows.WTSQueryUserToken(id, &user); err != nil {
			return nil, fmt.Errorf("WTSQueryUserToken %d: %w", id, err)
		}
		defer user.Close()
		var tok windows.Token
		if err := windows.DuplicateTokenEx(user, windows.MAXIMUM_ALLOWED, nil, windows.SecurityImpersonation, windows.TokenPrimary, &tok); err != nil {
			return nil, fmt.Errorf("duplicate session %d token: %w", id, err)
		}
		env, err := tok.Environ(false) // CreateEnvironmentBlock: the user's, not the service's
		if err != nil {
			tok.Close()
			return nil, fmt.Errorf("session %d environment: %w", id, err)
		}
		dir, err := windows.GetSystemDirectory()
		if err != nil {
			tok.Close()
			return nil, fmt.Errorf("system directory: %w", err)
		}
		cmd := exec.Command(path, args...)
		cmd.Env, cmd.Dir = env, dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Token: syscall.Token(tok)}
		return cmd, nil
	}
}

var wtsSessionRe = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)

// wtsSession parses a WTS session number; session 0 (services) never has a
// patron's desktop.
func wtsSession(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || !wtsSessionRe.MatchString(s) {
		return 0, fmt.Errorf("overlay: bad WTS session id %q", protocol.Clip(s, 64))
	}
	return uint32(n), nil
}

// checkSeat accepts a WTS session number; the X fields are not used here.
func (t Target) checkSeat() error {
	_, err := wtsSession(t.Session)
	return err
}

// helperDesktop is where a helper started with a user token runs: the
// session's interactive window station and its default desktop, the one the
// patron sees.
const helperDesktop = `winsta0\default`

// helperSD is the security descriptor of a helper process started with a user
// token: SYSTEM (the service) may do anything, the patron who owns it may only
// wait for it and see that it runs (OWNER RIGHTS takes the owner's implicit
// right to change the DACL). So the patron cannot kill it, suspend it, read or
// write its memory, or copy its pipe handles; the service still restarts it if
// it dies or stops answering. The helper's own pseudo-handle is not checked
// against it. Compiled, not run on Windows (Wine does not enforce it).
const helperSD = "D:P(A;;GA;;;SY)(A;;0x00101000;;;OW)" // SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION

// startHelper starts cmd. A command carrying a user token (HelperCommand's) is
// started with CreateProcessAsUser on the interactive desktop, without a
// console, inheriting only its three standard handles; its token is closed
// whether or not it started. Its Stdin and Stdout must be *os.File.
func startHelper(cmd *exec.Cmd) (helperProcess, error) {
	if cmd.SysProcAttr == nil || cmd.SysProcAttr.Token == 0 {
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return cmdProcess{cmd}, nil
	}
	tok := windows.Token(cmd.SysProcAttr.Token)
	defer tok.Close()
	stdin, ok1 := cmd.Stdin.(*os.File)
	stdout, ok2 := cmd.Stdout.(*os.File)
	if !ok1 || !ok2 {
		return nil, errors.New("start helper: stdin and stdout must be files")
	}
	var errR, errW *os.File
	if cmd.Stderr != nil {
		var err error
		if errR, errW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("start helper: pipe: %w", err)
		}
		defer errW.Close()
	}
	h, pid, err := createAsUser(tok, cmd, stdin, stdout, errW)
	if err != nil {
		if errR != nil {
			errR.Close()
		}
		return nil, fmt.Errorf("start helper: %w", err)
	}
	p := &desktopProcess{h: h, pid: pid, copied: make(chan struct{}), waitDelay: cmd.WaitDelay, errR: errR}
	if errR == nil {
		close(p.copied)
	} else {
		go func() {
			defer close(p.copied)
			_, _ = io.Copy(cmd.Stderr, errR)
		}()
	}
	return p, nil
}

// createAsUser runs CreateProcessAsUser and returns the new process's handle
// and id; stderr may be nil (the helper then has no stderr). The handle has
// every right whatever helperSD says: keep it, the process cannot be opened
// again by its id (except by SYSTEM).
func createAsUser(tok windows.Token, cmd *exec.Cmd, stdin, stdout, stderr *os.File) (windows.Handle, int, error) {
	self := windows.CurrentProcess()
	var std [3]windows.Handle
	for i, f := range []*os.File{stdin, stdout, stderr} {
		if f == nil {
			continue
		}
		// os.Pipe's handles are inheritable, and Wine (8.0) ignores the
		// handle list below: only the copies may be inherited.
		_ = windows.SetHandleInformation(windows.Handle(f.Fd()), windows.HANDLE_FLAG_INHERIT, 0)
		// An inheritable copy; only these are inherited (the handle list below).
		if err := windows.DuplicateHandle(self, windows.Handle(f.Fd()), self, &std[i], 0, true, windows.DUPLICATE_SAME_ACCESS); err != nil {
			return 0, 0, fmt.Errorf("duplicate handle: %w", err)
		}
		defer windows.CloseHandle(std[i])
	}
	inherit := make([]windows.Handle, 0, 3)
	for _, h := range std {
		if h != 0 {
			inherit = append(inherit, h)
		}
	}
	attrs, err := windows.NewProcThreadAttributeList(1)
	if err != nil {
		return 0, 0, fmt.Errorf("attribute list: %w", err)
	}
	defer attrs.Delete()
	if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_HANDLE_LIST, unsafe.Pointer(&inherit[0]), uintptr(len(inherit))*unsafe.Sizeof(inherit[0])); err != nil {
		return 0, 0, fmt.Errorf("handle list: %w", err)
	}
	desktop, _ := windows.UTF16PtrFromString(helperDesktop)
	si := &windows.StartupInfoEx{
		StartupInfo: windows.StartupInfo{
			Desktop:   desktop,
			Flags:     windows.STARTF_USESTDHANDLES,
			StdInput:  std[0],
			StdOutput: std[1],
			StdErr:    std[2],
		},
		ProcThreadAttributeList: attrs.List(),
	}
	si.Cb = uint32(unsafe.Sizeof(*si))
	sd, err := windows.SecurityDescriptorFromString(helperSD)
	if err != nil {
		return 0, 0, fmt.Errorf("helper security descriptor: %w", err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))

	app, err := windows.UTF16PtrFromString(cmd.Path)
	if err != nil {
		return 0, 0, err
	}
	line, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(cmd.Args))
	if err != nil {
		return 0, 0, err
	}
	var dir *uint16
	if cmd.Dir != "" {
		if dir, err = windows.UTF16PtrFromString(cmd.Dir); err != nil {
			return 0, 0, err
		}
	}
	env := envBlock(cmd.Environ())
	// No console at all (CREATE_NO_WINDOW would still give it a hidden
	// conhost.exe, which under Wine inherits the pipes and outlives a killed
	// helper): its standard handles are the pipes.
	const flags = windows.CREATE_UNICODE_ENVIRONMENT | windows.EXTENDED_STARTUPINFO_PRESENT | windows.DETACHED_PROCESS
	var pi windows.ProcessInformation
	if err := windows.CreateProcessAsUser(tok, app, line, sa, nil, true, flags, &env[0], dir, &si.StartupInfo, &pi); err != nil {
		return 0, 0, fmt.Errorf("CreateProcessAsUser: %w", err)
	}
	windows.CloseHandle(pi.Thread)
	return pi.Process, int(pi.ProcessId), nil
}

// envBlock makes a CreateProcess environment block; empty entries and entries
// holding NUL are dropped.
func envBlock(env []string) []uint16 {
	var b []uint16
	for _, kv := range env {
		if kv == "" || strings.IndexByte(kv, 0) >= 0 {
			continue
		}
		b = append(b, utf16.Encode([]rune(kv))...)
		b = append(b, 0)
	}
	if len(b) == 0 {
		b = append(b, 0)
	}
	return append(b, 0)
}

// desktopProcess is a helper started with CreateProcessAsUser.
type desktopProcess struct {
	pid       int
	errR      *os.File      // the helper's stderr, or nil
	copied    chan struct{} // closed when its stderr is copied
	waitDelay time.Duration // how long Wait waits for stderr after the exit; 0: no limit

	mu     sync.Mutex     // guards h against Kill after Wait closed it
	h      windows.Handle // the process; closed by Wait
	closed bool
}

func (p *desktopProcess) Pid() int { return p.pid }

func (p *desktopProcess) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return os.ErrProcessDone
	}
	return windows.TerminateProcess(p.h, 1)
}

// Wait waits for the exit, then for the stderr copy, for at most waitDelay
// (something else may hold the pipe's other end), as exec.Cmd does. Call it
// once.
func (p *desktopProcess) Wait() error {
	if _, err := windows.WaitForSingleObject(p.h, windows.INFINITE); err != nil {
		return fmt.Errorf("wait for helper: %w", err)
	}
	var code uint32
	err := windows.GetExitCodeProcess(p.h, &code)
	p.mu.Lock()
	windows.CloseHandle(p.h)
	p.closed = true
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("helper exit code: %w", err)
	}
	if p.errR != nil {
		var late <-chan time.Time
		if p.waitDelay > 0 {
			late = time.After(p.waitDelay)
		}
		select {
		case <-p.copied:
			p.errR.Close()
		case <-late:
			p.errR.Close() // cancels the pending read
			<-p.copied
		}
	}
	if code != 0 {
		return exitError(code)
	}
	return nil
}

// exitError says how a helper ended, as exec does ("exit status 1").
type exitError uint32

func (e exitError) Error() string { return "exit status " + strconv.FormatUint(uint64(e), 10) }
