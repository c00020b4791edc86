//go:build darwin

package config

const (
	defaultPath     = "/Library/Application Support/Carrel/agent.toml"
	defaultStateDir = "/Library/Application Support/Carrel/state"
)
