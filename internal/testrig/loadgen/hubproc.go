package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/carrel-kiosk/carrel/internal/hub"
)

// Proc is a server process the load generator started (a hub or the echo server).
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
}

// StartProc starts argv with its output to logw (nil discards).
func StartProc(argv []string, logw io.Writer) (*Proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("start process: empty command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logw, logw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// PID is the process ID.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits up to timeout, then kills.
func (p *Proc) Stop(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("pid %d did not stop within %v of SIGTERM; killed", p.PID(), timeout)
	}
}

// waitReady polls ready every 50ms until it returns nil, the process exits, or
// timeout.
func (p *Proc) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d not ready within %v: %w", p.PID(), timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return fmt.Errorf("pid %d exited before it was ready: %v", p.PID(), p.err)
		case <-t.C:
		}
	}
}

// StartHub starts a hub process (argv: carrel-hub serve --data DATA --listen
// ADDR, or carrel-loadgen hub ...) and waits until its control socket in data
// answers health.
func StartHub(ctx context.Context, argv []string, data string, logw io.Writer) (*Proc, *hub.Control, error) {
	p, err := StartProc(argv, logw)
	if err != nil {
		return nil, nil, err
	}
	var ctl *hub.Control
	err = p.waitReady(ctx, 60*time.Second, func(ctx context.Context) error {
		c, err := hub.Dial(ctx, data)
		ctl = c
		return err
	})
	if err != nil {
		p.Kill()
		return nil, nil, err
	}
	return p, ctl, nil
}

// waitTCP is a readiness check: something accepts on addr.
func waitTCP(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// HubOptions configure RunHub.
type HubOptions struct {
	Data, Listen string
	// CPUProfile is written over the whole run, or, if ProfileOnSignal, between
	// two SIGUSR2s (the first starts it, the second stops it).
	CPUProfile string
	// HeapProfile is written at each SIGUSR1 (after a GC), and at the end if none
	// came; the goroutines (aggregated stacks) go next to it, in HeapProfile.goroutines.txt.
	HeapProfile     string
	ProfileOnSignal bool
	Log             io.Writer
}

// RunHub runs the real hub (internal/hub) in this process until ctx is done, with
// a CPU profile over the whole run and a heap profile at the end. carrel-hub has
// no profiling hook; this is one that leaves the hub's code alone.
func RunHub(ctx context.Context, opt HubOptions) error {
	if opt.Log == nil {
		opt.Log = os.Stderr
	}
	h, err := hub.New(hub.Config{DataDir: opt.Data, Listen: opt.Listen}, slog.New(slog.NewTextHandler(opt.Log, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	var cpuFile *os.File
	startCPU := func() error {
		f, err := os.Create(opt.CPUProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		cpuFile = f
		fmt.Fprintf(opt.Log, "loadgen hub: CPU profile started (%s)\n", opt.CPUProfile)
		return nil
	}
	stopCPU := func() {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
			cpuFile = nil
			fmt.Fprintf(opt.Log, "loadgen hub: CPU profile written (%s)\n", opt.CPUProfile)
		}
	}
	defer stopCPU()
	if opt.CPUProfile != "" && !opt.ProfileOnSignal {
		if err := startCPU(); err != nil {
			h.Close()
			return err
		}
	}
	heapWritten := false
	writeHeap := func() error {
		runtime.GC()
		f, err := os.Create(opt.HeapProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		heapWritten = true
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
		g, err := os.Create(opt.HeapProfile + ".goroutines.txt")
		if err != nil {
			return err
		}
		defer g.Close()
		fmt.Fprintf(opt.Log, "loadgen hub: heap profile and goroutines written (%s)\n", opt.HeapProfile)
		return pprof.Lookup("goroutine").WriteTo(g, 1)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	fmt.Fprintf(opt.Log, "loadgen hub: listening on %s (pid %d)\n", h.Addr(), os.Getpid())
	go func() { ran <- h.Run(rctx) }()
	for {
		select {
		case err = <-ran:
		case s := <-sigs:
			switch {
			case s == syscall.SIGUSR1 && opt.HeapProfile != "":
				if err := writeHeap(); err != nil {
					fmt.Fprintf(opt.Log, "loadgen hub: heap profile: %v\n", err)
				}
			case s == syscall.SIGUSR2 && opt.CPUProfile != "" && cpuFile == nil:
				if err := startCPU(); err != nil {
					fmt.Fprintf(opt.Log, "loadgen hub: CPU profile: %v\n", err)
				}
			case s == syscall.SIGUSR2:
				stopCPU()
			}
			continue
		}
		break
	}
	if opt.HeapProfile != "" && !heapWritten {
		if werr := writeHeap(); werr != nil {
			return errors.Join(err, werr)
		}
	}
	return err
}
