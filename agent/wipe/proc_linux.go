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

// procKiller ends processes by reading /proc: it stops every process of the uid
// with SIGSTOP (so none can fork or respawn another), repeats until a scan finds
// no running one, then sends SIGKILL, and waits until none is left.
type procKiller struct{ proc string }

var _ ProcessKiller = procKiller{}

func newKiller() ProcessKiller { return procKiller{proc: "/proc"} }

func (k procKiller) KillAll(ctx context.Context, uid int) (int, error) {
	if uid <= 0 {
		return 0, fmt.Errorf("end processes: refusing uid %d", uid)
	}
	killed := map[int]bool{}
	for delay := time.Millisecond; ; delay = min(delay*2, 50*time.Millisecond) {
		pids, err := k.pidsOf(uid)
		if err != nil {
			return len(killed), err
		}
		if len(pids) == 0 {
			return len(killed), nil
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGSTOP)
		}
		// a process may have forked between the scan and its stop: scan again until
		// the set is stable, then kill all of them at once
		for range 10 {
			again, err := k.pidsOf(uid)
			if err != nil {
				return len(killed), err
			}
			fresh := false
			for _, pid := range again {
				if !contains(pids, pid) {
					fresh = true
					pids = append(pids, pid)
					_ = unix.Kill(pid, unix.SIGSTOP)
				}
			}
			if !fresh {
				break
			}
		}
		for _, pid := range pids {
			if unix.Kill(pid, unix.SIGKILL) == nil {
				killed[pid] = true
			}
		}
		// wait for the kernel to reap or zombify them (a condition, with ctx as deadline)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			left, _ := k.pidsOf(uid)
			return len(killed), fmt.Errorf("end processes of uid %d: %d still running: %w", uid, len(left), ctx.Err())
		case <-t.C:
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// pidsOf lists live (not zombie) processes whose real, effective, saved or
// filesystem uid is uid, never this process.
func (k procKiller) pidsOf(uid int) ([]int, error) {
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
	var out []int
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
		if st, uids := parseStatus(data); st != 'Z' && st != 'X' && contains(uids, uid) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// parseStatus returns the state letter and the four uids of /proc/PID/status.
func parseStatus(data []byte) (byte, []int) {
	var state byte
	var uids []int
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("State:")):
			if f := bytes.Fields(line[6:]); len(f) > 0 && len(f[0]) > 0 {
				state = f[0][0]
			}
		case bytes.HasPrefix(line, []byte("Uid:")):
			for _, f := range bytes.Fields(line[4:]) {
				if n, err := strconv.Atoi(string(f)); err == nil {
					uids = append(uids, n)
				}
			}
		}
	}
	return state, uids
}
