// Package svcctl is what the agent's and the hub's service managers share
// over kardianos/service: finding the OS's service manager (or a named one,
// for tests and for a container's systemd) with a program that does nothing,
// since each program's service body is its own code, not kardianos's Run.
package svcctl

import (
	"fmt"

	kservice "github.com/kardianos/service"
)

// New returns the service manager for c: the OS's own when system is "",
// else the one kardianos names system (e.g. "linux-systemd").
func New(c *kservice.Config, system string) (kservice.Service, error) {
	var prog noop
	if system == "" {
		s, err := kservice.New(prog, c)
		if err != nil {
			return nil, fmt.Errorf("service manager: %w", err)
		}
		return s, nil
	}
	for _, sys := range kservice.AvailableSystems() {
		if sys.String() == system {
			s, err := sys.New(prog, c)
			if err != nil {
				return nil, fmt.Errorf("service manager %s: %w", system, err)
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("service manager %q is not available here", system)
}

// noop satisfies kardianos's Interface; the service is started by the
// program's own entry point.
type noop struct{}

func (noop) Start(kservice.Service) error { return nil }
func (noop) Stop(kservice.Service) error  { return nil }
