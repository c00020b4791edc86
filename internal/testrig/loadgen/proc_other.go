//go:build !linux

package loadgen

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotImplemented: process sampling reads /proc (Linux only).
var ErrNotImplemented = fmt.Errorf("not implemented on this platform: %w", errors.ErrUnsupported)

// ProcSample is one reading of a process.
type ProcSample struct {
	At      time.Time
	CPU     time.Duration
	RSS     int64
	Threads int
	OpenFDs int
}

// SampleProc is Linux only.
func SampleProc(pid int) (ProcSample, error) { return ProcSample{}, ErrNotImplemented }

// CPUPercent is the CPU used between two samples, in percent of one core.
func CPUPercent(a, b ProcSample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}

// Load1 is unknown off Linux.
func Load1() string { return "?" }
