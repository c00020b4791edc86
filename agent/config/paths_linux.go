//go:build linux

package config

const (
	defaultPath     = "/etc/carrel/agent.toml"
	defaultStateDir = "/var/lib/carrel-agent"
)
