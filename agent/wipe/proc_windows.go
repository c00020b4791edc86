//go:build windows

package wipe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// tokenKiller ends every process whose token user is the patron's SID. Each
// round takes a process snapshot (CreateToolhelp32Snapshot), opens every
// process (except this one and the idle and System processes), reads its token
// user and, when it is the patron's, calls TerminateProcess through the same
// handle, so a pid reused meanwhile is never hit. It then waits on the handles of
// the processes it ended until they have exited and scans again; it returns when
// a scan finds none, or at ctx's end with an error that lists what is left
// (and why it could not be ended).
type tokenKiller struct {
	// under, when not 0, limits the killer to descendants of that pid (by parent
	// pid in the snapshot). Tests only: under Wine every process runs as the same
	// user as the test.
	under uint32
}

var _ ProcessKiller = tokenKiller{}

func newKiller() ProcessKiller { return tokenKiller{} }

// patronProc is one open process of the patron.
type patronProc struct {
	pid  uint32
	name string
	h    windows.Handle
	why  string // why it cannot be ended ("" = it can)
}

func (k tokenKiller) KillAll(ctx context.Context, uid int) (int, error) {
	if uid < firstUserRID {
		return 0, fmt.Errorf("end processes: refusing built-in RID %d", uid)
	}
	sid, err := sidOfUID(uid)
	if err != nil {
		return 0, fmt.Errorf("end processes: %w", err)
	}
	// lets OpenProcess past a process DACL the patron tightened (LocalSystem
	// holds it); without it such a process is reported as not ended
	_ = enablePrivilege("SeDebugPrivilege")
	killed := map[uint32]bool{}
	for delay := time.Millisecond; ; delay = min(delay*2, 50*time.Millisecond) {
		procs, err := k.procsOf(sid)
		if err != nil {
			return len(killed), err
		}
		if len(procs) == 0 {
			return len(killed), nil
		}
		var ended []windows.Handle
		for i := range procs {
			p := &procs[i]
			if p.why != "" {
				continue
			}
			if err := windows.TerminateProcess(p.h, 1); err != nil {
				p.why = "TerminateProcess: " + err.Error()
				continue
			}
			killed[p.pid] = true
			ended = append(ended, p.h)
		}
		waitErr := waitExit(ctx, ended)
		closeAll(procs)
		if waitErr == nil && len(ended) > 0 {
			continue // they are gone: scan again at once for what they started
		}
		if waitErr != nil || ctx.Err() != nil {
			// a last look: what exited at the deadline is not an error
			again, err := k.procsOf(sid)
			if err != nil {
				return len(killed), err
			}
			closeAll(again)
			if len(again) == 0 {
				return len(killed), nil
			}
			cause := waitErr
			if ctx.Err() != nil {
				cause = context.Cause(ctx)
			}
			return len(killed), fmt.Errorf("end processes of %s: %d still running (%s): %w", sid, len(again), leftOver(again), cause)
		}
		// nothing could be ended this round: look again shortly, until ctx ends
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func closeAll(procs []patronProc) {
	for _, p := range procs {
		windows.CloseHandle(p.h)
	}
}

// leftOver describes procs for an error, sorted by pid.
func leftOver(procs []patronProc) string {
	var parts []string
	ps := append([]patronProc(nil), procs...)
	sort.Slice(ps, func(i, j int) bool { return ps[i].pid < ps[j].pid })
	for _, p := range ps {
		why := p.why
		if why == "" {
			why = "did not exit"
		}
		parts = append(parts, fmt.Sprintf("pid %d %s: %s", p.pid, p.name, why))
	}
	return strings.Join(parts, "; ")
}

// waitExit waits until every handle is signalled (the process has exited) or
// ctx ends, in slices of 64 handles (the limit of WaitForMultipleObjects).
func waitExit(ctx context.Context, hs []windows.Handle) error {
	for len(hs) > 0 {
		n := min(len(hs), 64) // MAXIMUM_WAIT_OBJECTS
		ms := uint32(windows.INFINITE)
		if dl, ok := ctx.Deadline(); ok {
			ms = uint32(max(0, min(time.Until(dl).Milliseconds(), 0xFFFFFFFE)))
		}
		ev, err := windows.WaitForMultipleObjects(hs[:n], true, ms)
		if err != nil {
			return fmt.Errorf("wait for processes to exit: %w", err)
		}
		if ev == uint32(windows.WAIT_TIMEOUT) {
			return context.DeadlineExceeded
		}
		hs = hs[n:]
	}
	return nil
}

// procsOf opens every running process whose token user is sid (never this
// process, nor pids 0 and 4). Processes that cannot be opened to be ended but
// are the patron's are returned with why set; processes whose token cannot be
// read at all are not the patron's as far as anyone can tell (a protected
// process), and are skipped.
func (k tokenKiller) procsOf(sid *windows.SID) ([]patronProc, error) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil, fmt.Errorf("process snapshot: %w", err)
	}
	defer windows.CloseHandle(snap)
	type entry struct {
		pid, ppid uint32
		name      string
	}
	var all []entry
	var pe windows.ProcessEntry32
	pe.Size = uint32(unsafe.Sizeof(pe))
	for err = windows.Process32First(snap, &pe); err == nil; err = windows.Process32Next(snap, &pe) {
		all = append(all, entry{pid: pe.ProcessID, ppid: pe.ParentProcessID, name: windows.UTF16ToString(pe.ExeFile[:])})
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var inScope func(uint32) bool
	if k.under != 0 {
		parent := make(map[uint32]uint32, len(all))
		for _, e := range all {
			parent[e.pid] = e.ppid
		}
		inScope = func(pid uint32) bool {
			for i, p := 0, pid; i < len(all) && p != 0; i++ { // bounded: ppid loops exist
				if p = parent[p]; p == k.under {
					return true
				}
			}
			return false
		}
	}
	self := uint32(os.Getpid())
	var out []patronProc
	for _, e := range all {
		if e.pid == 0 || e.pid == 4 || e.pid == self || inScope != nil && !inScope(e.pid) {
			continue
		}
		h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_TERMINATE|windows.SYNCHRONIZE, false, e.pid)
		why := ""
		if err != nil {
			if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
				continue // exited since the snapshot
			}
			// maybe it may be looked at but not ended
			h, err = windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, e.pid)
			if err != nil {
				continue
			}
			why = "cannot be opened to be ended (access denied)"
		}
		if ev, _ := windows.WaitForSingleObject(h, 0); ev == windows.WAIT_OBJECT_0 {
			windows.CloseHandle(h) // exited, only its object is left
			continue
		}
		mine, err := tokenUserIs(h, sid)
		if err != nil || !mine {
			windows.CloseHandle(h)
			continue
		}
		out = append(out, patronProc{pid: e.pid, name: e.name, h: h, why: why})
	}
	return out, nil
}

func tokenUserIs(h windows.Handle, sid *windows.SID) (bool, error) {
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return false, err
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return false, err
	}
	return u.User.Sid.Equals(sid), nil
}
