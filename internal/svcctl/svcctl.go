// Package svcctl is what the agent's and the hub's service managers share
// over kardianos/service: finding the OS's service manager (or a named one,
// for tests and for a container's systemd) with a program that does nothing,
// since each program's service body is its own code, not kardianos's Run; and
// a Status that says "not installed" when the service is not installed,
// whatever the service manager answered.
package svcctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	kservice "github.com/kardianos/service"
)

// New returns the service manager for c: the OS's own when system is "",
// else the one kardianos names system (e.g. "linux-systemd"). Its Status
// answers kservice.ErrNotInstalled for a service that is not installed (see
// MapStatus).
func New(c *kservice.Config, system string) (kservice.Service, error) {
	var prog noop
	if system == "" {
		s, err := kservice.New(prog, c)
		if err != nil {
			return nil, fmt.Errorf("service manager: %w", err)
		}
		return wrap(s, s.Platform(), c.Name), nil
	}
	for _, sys := range kservice.AvailableSystems() {
		if sys.String() == system {
			s, err := sys.New(prog, c)
			if err != nil {
				return nil, fmt.Errorf("service manager %s: %w", system, err)
			}
			return wrap(s, system, c.Name), nil
		}
	}
	return nil, fmt.Errorf("service manager %q is not available here", system)
}

// service is a kardianos service whose Status is MapStatus's.
type service struct {
	kservice.Service
	system, name string
}

func wrap(s kservice.Service, system, name string) kservice.Service {
	return service{Service: s, system: system, name: name}
}

func (s service) Status() (kservice.Status, error) {
	return MapStatus(s.Service.Status, func() (bool, bool) { return Registered("/", s.system, s.name) })
}

// MapStatus is status's answer, except that a failure of a service that is
// not installed is kservice.ErrNotInstalled. kardianos passes the service
// manager's failure through when the service is unknown to it: on a SysV
// machine `service NAME status` exits 1 ("query service: exit status 1");
// systemctl may say the unit is not found. registered says whether the
// service's unit or script is on disk, and whether it could tell (known).
func MapStatus(status func() (kservice.Status, error), registered func() (present, known bool)) (kservice.Status, error) {
	st, err := status()
	if err == nil || errors.Is(err, kservice.ErrNotInstalled) {
		return st, err
	}
	if present, known := registered(); known && !present {
		return kservice.StatusUnknown, kservice.ErrNotInstalled
	}
	if unknownService(err.Error()) {
		return kservice.StatusUnknown, kservice.ErrNotInstalled
	}
	return st, err
}

// unknownService reports whether a service manager's message says it does not
// know the service.
func unknownService(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"could not be found", "not-found", "unrecognized service", "does not exist", "no such service", "not loaded"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Registered reports whether the unit or script of service name is on disk
// under root for the kardianos system, and whether it could tell (known is
// false for a system it knows no files of, such as Windows, whose service
// manager kardianos asks directly).
func Registered(root, system, name string) (present, known bool) {
	var paths []string
	switch system {
	case "linux-systemd":
		for _, d := range []string{"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"} {
			paths = append(paths, filepath.Join(d, name+".service"))
		}
	case "unix-systemv", "linux-openrc", "linux-rcs":
		paths = []string{"/etc/init.d/" + name}
	case "linux-upstart":
		paths = []string{"/etc/init/" + name + ".conf"}
	case "darwin-launchd":
		paths = []string{"/Library/LaunchDaemons/" + name + ".plist"}
	default:
		return false, false
	}
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			return true, true
		}
	}
	return false, true
}

// noop satisfies kardianos's Interface; the service is started by the
// program's own entry point.
type noop struct{}

func (noop) Start(kservice.Service) error { return nil }
func (noop) Stop(kservice.Service) error  { return nil }
