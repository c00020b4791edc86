//go:build linux

package wipe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// procKiller ends processes by reading /proc. Every process of the uid whose
// parent is also the patron's is stopped with SIGSTOP first, so the tree cannot
// fork away while it is being killed; then all of them get SIGKILL, and the scan
// repeats until none is left. The patron's top processes (children of login,
// su, runuser, sshd) are not stopped but killed at once: such root parents stop
// themselves when their child stops, and would then never exit. A root parent
// found stopped anyway is sent SIGCONT once its child is gone.
type procKiller struct{ proc string }

var _ ProcessKiller = procKiller{}

func newKiller() ProcessKiller { return procKiller{proc: "/proc"} }

type proc struct{ pid, ppid int }

func (k procKiller) KillAll(ctx context.Context, uid int) (int, error) {
	if uid <= 0 {
		return 0, fmt.Errorf("end processes: refusing uid %d", uid)
	}
	killed := map[int]bool{}
	parents := map[int]bool{}
	for delay := time.Millisecond; ; delay = min(delay*2, 50*time.Millisecond) {
		procs, err := k.procsOf(uid)
		if err != nil {
			return len(killed), err
		}
		if len(procs) == 0 {
			for pp := range parents {
				if k.stateOf(pp) == 'T' {
					_ = unix.Kill(pp, unix.SIGCONT)
				}
			}
			return len(killed), nil
		}
		// stop the inner processes, rescanning until no new one appears
		seen := map[int]bool{}
		for range 10 {
			fresh := false
			for _, p := range procs {
				if !seen[p.pid] {
					seen[p.pid] = true
					fresh = true
				}
			}
			for _, p := range procs {
				if seen[p.ppid] {
					_ = unix.Kill(p.pid, unix.SIGSTOP)
				} else if p.ppid > 1 {
					parents[p.ppid] = true
				}
			}
			if !fresh {
				break
			}
			if procs, err = k.procsOf(uid); err != nil {
				return len(killed), err
			}
		}
		for pid := range seen {
			if unix.Kill(pid, unix.SIGKILL) == nil {
				killed[pid] = true
			}
		}
		for pp := range parents {
			if k.stateOf(pp) == 'T' {
				_ = unix.Kill(pp, unix.SIGCONT)
			}
		}
		// let the kernel reap or zombify them, then scan again (ctx is the deadline)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			left, _ := k.procsOf(uid)
			return len(killed), fmt.Errorf("end processes of uid %d: %d still running: %w", uid, len(left), ctx.Err())
		case <-t.C:
		}
	}
}

// pidsOf lists the pids of procsOf.
func (k procKiller) pidsOf(uid int) ([]int, error) {
	ps, err := k.procsOf(uid)
	var out []int
	for _, p := range ps {
		out = append(out, p.pid)
	}
	return out, err
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// procsOf lists live (not zombie) processes whose real, effective, saved or
// filesystem uid is uid, never this process.
func (k procKiller) procsOf(uid int) ([]proc, error) {
	d, err := os.Open(k.proc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", k.proc, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", k.proc, err)
	}
	self := os.Getpid()
	var out []proc
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		data, err := os.ReadFile(k.proc + "/" + n + "/status")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
				continue
			}
			return nil, fmt.Errorf("read status of %d: %w", pid, err)
		}
		if st, ppid, uids := parseStatus(data); st != 'Z' && st != 'X' && contains(uids, uid) {
			out = append(out, proc{pid: pid, ppid: ppid})
		}
	}
	return out, nil
}

func (k procKiller) stateOf(pid int) byte {
	data, err := os.ReadFile(k.proc + "/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	st, _, _ := parseStatus(data)
	return st
}

// parseStatus returns the state letter, the parent pid and the four uids of
// /proc/PID/status.
func parseStatus(data []byte) (state byte, ppid int, uids []int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("State:")):
			if f := bytes.Fields(line[6:]); len(f) > 0 && len(f[0]) > 0 {
				state = f[0][0]
			}
		case bytes.HasPrefix(line, []byte("PPid:")):
			ppid, _ = strconv.Atoi(string(bytes.TrimSpace(line[5:])))
		case bytes.HasPrefix(line, []byte("Uid:")):
			for _, f := range bytes.Fields(line[4:]) {
				if n, err := strconv.Atoi(string(f)); err == nil {
					uids = append(uids, n)
				}
			}
		}
	}
	return state, ppid, uids
}
