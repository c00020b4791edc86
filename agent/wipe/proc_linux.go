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

// procKiller ends processes by reading /proc. Each round scans once: every
// process of the uid whose parent is also the patron's is stopped with SIGSTOP
// (a stopped process cannot fork), the patron's top processes (children of
// login, su, runuser, sshd, or orphans) get SIGKILL at once, then the stopped
// ones get SIGKILL too; rounds repeat until a scan finds none. Top processes are
// not stopped because root parents such as su and runuser stop themselves when
// their child stops and would then never exit; a parent found stopped anyway is
// sent SIGCONT once its child is gone.
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
	for delay := time.Millisecond; ; delay = min(delay*2, 20*time.Millisecond) {
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
		mine := make(map[int]bool, len(procs))
		for _, p := range procs {
			mine[p.pid] = true
		}
		for _, p := range procs {
			if mine[p.ppid] {
				_ = unix.Kill(p.pid, unix.SIGSTOP)
			}
		}
		for _, p := range procs {
			if !mine[p.ppid] {
				if p.ppid > 1 {
					parents[p.ppid] = true
				}
				if unix.Kill(p.pid, unix.SIGKILL) == nil {
					killed[p.pid] = true
				}
			}
		}
		for _, p := range procs {
			if mine[p.ppid] && unix.Kill(p.pid, unix.SIGKILL) == nil {
				killed[p.pid] = true
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
			left, err := k.procsOf(uid)
			if err == nil && len(left) == 0 {
				return len(killed), nil
			}
			return len(killed), fmt.Errorf("end processes of uid %d: %d still running: %w", uid, len(left), ctx.Err())
		case <-t.C:
		}
	}
}

// Running lists the live processes of uid (verify's check).
func (k procKiller) Running(uid int) ([]int, error) { return k.pidsOf(uid) }

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
	buf := make([]byte, 4096)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		data, err := readSmall(k.proc+"/"+n+"/status", buf)
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

// readSmall reads a /proc file into buf (status files are a few KB; what does
// not fit is not needed: State, PPid and Uid come first).
func readSmall(name string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
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
