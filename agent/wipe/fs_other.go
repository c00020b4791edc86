//go:build !linux && !windows

package wipe

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
)

// Nothing of the wipe is implemented on this OS yet (2026-11, macOS included):
// every scope is refused or fails with ErrNotImplemented.

var defaults = osDefaults{
	template:  "/var/lib/carrel/template",
	journal:   "/var/lib/carrel/wipe",
	temp:      []string{"/tmp", "/var/tmp"},
	spool:     []string{},
	protected: []string{"/var/lib/carrel", "/etc/carrel"},
}

var systemDirs = []string{"/System", "/Library", "/Applications", "/bin", "/sbin", "/usr", "/etc", "/var", "/private"}

var systemExact = []string{"/Users", "/tmp"}

func isVolumeRoot(p string) bool { return p == "/" }

func fileOwner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }

var errNotSameFS = errors.New("home cannot be renamed into the trash")

func renameAside(string, string) error { return ErrNotImplemented }

func purgeTree(_ context.Context, dir string, o purgeOpts) purgeResult {
	var r purgeResult
	r.leftover(o.maxLeft, strconv.Quote(dir), ErrNotImplemented.Error())
	return r
}

type notImplemented struct{}

func (notImplemented) Hold(context.Context, string) error    { return ErrNotImplemented }
func (notImplemented) Release(context.Context, string) error { return ErrNotImplemented }
func (notImplemented) KillAll(context.Context, int) (int, error) {
	return 0, ErrNotImplemented
}
func (notImplemented) Lookup(string) (Account, error) { return Account{}, ErrNotImplemented }
func (notImplemented) LookupUID(int) (Account, error) { return Account{}, ErrNotImplemented }

func newGate(Config) LogonGate  { return notImplemented{} }
func newKiller() ProcessKiller  { return notImplemented{} }
func newUsers() UserDB          { return notImplemented{} }
func newPrintQueue() PrintQueue { return nil }
