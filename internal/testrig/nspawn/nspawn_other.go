//go:build !linux

package nspawn

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
)

// ErrUnavailable is returned by Available and Start when this machine cannot boot
// a container: always, on this OS.
var ErrUnavailable = errors.New("nspawn: cannot boot containers here")

// Container is never booted on this OS.
type Container struct {
	Name string
}

// Options change how a container is booted; see the Linux documentation.
type Options struct {
	PrivateNetwork bool
}

// BootWith skips t: containers need Linux.
func BootWith(t testing.TB, opts Options) *Container {
	t.Helper()
	t.Skip("skipping: systemd-nspawn containers need Linux")
	return nil
}

// StartWith returns ErrUnavailable.
func StartWith(ctx context.Context, opts Options) (*Container, error) { return nil, ErrUnavailable }

// Available reports ErrUnavailable: containers need Linux.
func Available() error { return ErrUnavailable }

// Boot skips t: containers need Linux.
func Boot(t testing.TB) *Container {
	t.Helper()
	t.Skip("skipping: systemd-nspawn containers need Linux")
	return nil
}

// Start returns ErrUnavailable.
func Start(ctx context.Context) (*Container, error) { return nil, ErrUnavailable }

func (c *Container) PID() int     { return 0 }
func (c *Container) Root() string { return "" }
func (c *Container) Log() string  { return "" }
func (c *Container) Close() error { return nil }
func (c *Container) Exec(ctx context.Context, args ...string) ([]byte, error) {
	return nil, ErrUnavailable
}
func (c *Container) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, os.DevNull)
}
func (c *Container) CopyIn(src, dst string, perm os.FileMode) error { return ErrUnavailable }
